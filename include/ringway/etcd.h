// etcd's v3 JSON gateway (the HTTP/1.1 face of its gRPC API), without I/O: request texts,
// response parsers and base64. Used by the control thread's watcher (control/etcd_watch.h)
// and by `ringway config push|diff` (config_cli.cc).
//
// Requests are sent as HTTP/1.0 on purpose: etcd's Go server then neither chunks the body
// nor keeps the connection, so a response (or a watch stream) is the bytes up to EOF and a
// watch stream is one JSON message per line.
//
// Pure functions; any thread. Parsers never throw: a malformed answer is an error value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringway::etcd {

std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not standard base64 (padding optional).
std::optional<std::string> base64_decode(std::string_view text);

// The end of the key range of every key starting with `prefix` (prefix with its last byte
// incremented; "\0" for a prefix of only 0xff bytes: every key).
std::string prefix_end(std::string_view prefix);

struct KeyValue {
  std::string key;
  std::string value;
  int64_t mod_revision = 0;
};

// A full HTTP/1.0 POST request for `path` ("/v3/kv/range") with the JSON `body`.
std::string http_request(std::string_view host, std::string_view path, std::string_view body);

// Request bodies (JSON).
std::string range_body(std::string_view prefix);  // every key under prefix, newest revision
std::string watch_body(std::string_view prefix, int64_t start_revision);

struct TxnOps {
  std::string prefix;     // the guard covers every key under it
  int64_t read_revision;  // fails unless no key under prefix changed after it
  std::vector<std::pair<std::string, std::string>> puts;  // full keys and values
  std::vector<std::string> deletes;                       // full keys
};
std::string txn_body(const TxnOps& ops);

// An HTTP response split into status and body; nullopt while the head is incomplete or bad.
struct HttpAnswer {
  int status = 0;
  std::string_view body;
};
std::optional<HttpAnswer> split_response(std::string_view bytes);

// /v3/kv/range: the revision it was read at and the keys, or an error.
struct RangeResult {
  int64_t revision = 0;
  std::vector<KeyValue> kvs;
  std::string error;  // non-empty: the answer is unusable
};
RangeResult parse_range(std::string_view body);

// One line of a /v3/watch stream.
struct WatchEvent {
  bool is_delete = false;
  KeyValue kv;
};
struct WatchMessage {
  int64_t revision = 0;          // header.revision
  bool created = false;          // the watch exists now
  bool canceled = false;         // the server ended the watch
  int64_t compact_revision = 0;  // > 0: start_revision was compacted; read again
  std::vector<WatchEvent> events;
  std::string error;  // non-empty: malformed line or an error message
};
WatchMessage parse_watch_line(std::string_view line);

// /v3/kv/txn: whether the guard held and the revision after it.
struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::string error;
};
TxnResult parse_txn(std::string_view body);

}  // namespace ringway::etcd
