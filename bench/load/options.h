// ringway-load command line: what to send, where, how hard and for how long.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ringway::load {

// A parsed `http://host:port/path` target. Only loopback hosts are accepted.
struct Target {
  std::string url;          // as given
  std::string host;         // Host header value (host[:port] as in the URL)
  std::string path;         // path and query, "/" when absent
  sockaddr_storage addr{};  // resolved loopback address
  socklen_t addr_len = 0;
};

struct Options {
  Target target;
  uint32_t connections = 64;
  uint32_t threads = 1;
  uint32_t pipeline = 1;                // requests in flight per connection
  bool close = false;                   // a new connection per request
  double rate = 0;                      // open loop: requests per second in total; 0 = closed loop
  uint64_t duration_ns = 0;             // measured time (10 s; with only --requests: a 10 min cap)
  uint64_t requests = 0;                // 0: bounded by `duration_ns`
  uint64_t warmup_ns = 0;               // run unrecorded first
  uint64_t timeout_ns = 5'000'000'000;  // per request (and per connect)
  uint64_t hold_ns = 0;                 // hold mode: one request per connection, then stay idle
  std::string method = "GET";
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  bool json = false;
};

inline constexpr uint64_t kNsPerSec = 1'000'000'000;
inline constexpr uint64_t kMaxDuration = 3600 * kNsPerSec;

// Parses argv. On error returns false with a message in *error; `--help` returns false
// with the usage text in *error and *help set.
bool ParseOptions(int argc, char** argv, Options* out, std::string* error, bool* help);

// Parses `http://127.0.0.1:8080/path`; refuses anything but 127.0.0.1, ::1 or localhost.
bool ParseTarget(const std::string& url, Target* out, std::string* error);

// The bytes of one request as sent on the wire.
std::string RenderRequest(const Options& opt);

}  // namespace ringway::load
