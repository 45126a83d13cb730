// One load-generator thread: its own io_uring and provided-buffer ring, a share of the
// connections, and its own statistics (merged by the main thread at the end).
//
// Thread affinity: a Worker is built by the main thread, run() on its own thread; the
// main thread reads its results only after run() has returned.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/ring.h"
#include "histogram.h"
#include "options.h"
#include "response_parser.h"

namespace ringway::load {

enum ErrorKind : uint8_t { kErrConnect, kErrReset, kErrTimeout, kErrStatus, kErrParse, kErrKinds };
inline constexpr const char* kErrorNames[kErrKinds] = {"connect", "reset", "timeout", "status",
                                                       "parse"};

struct Stats {
  uint64_t requests = 0;   // requests sent during the measurement
  uint64_t responses = 0;  // complete responses to them
  uint64_t lost = 0;       // sent, but their connection failed before the response
  uint64_t unsent = 0;     // open loop: scheduled but never sent before the end
  uint64_t connects = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t errors[kErrKinds] = {};
  uint64_t status_class[6] = {};  // [1..5]: 1xx..5xx, [0]: anything else
  Histogram latency;              // ns

  void merge(const Stats& o);
  uint64_t error_total() const;
};

// What every worker shares (read-only while they run). Times are CLOCK_MONOTONIC ns.
struct Plan {
  const Options* opt = nullptr;
  std::string request;  // one request
  std::string batch;    // `pipeline` copies of it
  bool head_request = false;
  uint64_t start_ns = 0;
  uint64_t measure_ns = 0;  // start + warm-up
  uint64_t end_ns = 0;      // measure + duration
  const std::atomic<bool>* stop = nullptr;
};

uint64_t MonotonicNs();

// user_data: op (8 bits) | connection generation (24 bits) | connection index (32 bits).
enum Op : uint64_t { kOpConnect = 1, kOpSend = 2, kOpRecv = 3 };
inline constexpr uint32_t kGenMask = 0xffffff;
inline uint64_t Encode(Op op, uint32_t gen, uint32_t idx) {
  return (static_cast<uint64_t>(op) << 56) | (static_cast<uint64_t>(gen & kGenMask) << 32) | idx;
}

class Worker {
 public:
  // `connections` of this worker; `quota`: its share of --requests (0: none); `rate`: its
  // share of --rate (0: closed loop).
  Worker(const Plan& plan, uint32_t connections, uint64_t quota, double rate);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The thread body. On failure to set up, error() is non-empty.
  void run() noexcept;

  const Stats& stats() const { return stats_; }
  const std::string& error() const { return error_; }
  uint64_t measure_start() const { return measure_start_; }
  uint64_t finish() const { return finish_; }
  uint32_t open_connections() const;

 private:
  enum class St : uint8_t { kClosed, kConnecting, kOpen };
  struct Conn {
    int fd = -1;
    uint32_t gen = 0;
    St st = St::kClosed;
    bool sending = false;
    bool recv_armed = false;
    bool idle_listed = false;  // in idle_ (open loop)
    uint16_t inflight = 0;
    uint16_t sched_head = 0;
    uint32_t send_off = 0;
    uint32_t send_len = 0;
    uint64_t served = 0;
    uint64_t retry_at = 0;  // kClosed: reopen at this time
    uint64_t deadline = 0;  // 0: nothing awaited
    ResponseParser parser;
  };

  void loop();
  void tick();
  void wait();
  void reap();
  void dispatch_open_loop();
  void dispatch(uint64_t user_data, int res, uint32_t flags);
  void rearm();
  void scan();
  bool done() const;
  void finish_run();

  void open(uint32_t idx);
  void close_conn(Conn& c);
  void fail(uint32_t idx, ErrorKind kind, uint64_t retry_delay_ns);
  void on_ready(uint32_t idx);
  uint64_t due() const;  // open loop: requests due by now_
  uint64_t intended(uint64_t i) const {
    return plan_.start_ns + static_cast<uint64_t>(static_cast<double>(i) * ns_per_req_);
  }
  uint32_t allowed(uint64_t k) const;
  uint32_t want() const;
  void send_batch(uint32_t idx, uint32_t k);
  void queue_send(uint32_t idx);
  void arm_recv(uint32_t idx);

  void on_connect(uint32_t idx, int res);
  void on_send(uint32_t idx, int res);
  void on_recv(uint32_t idx, int res, uint32_t flags);
  void consume(uint32_t idx, const char* data, size_t n);
  void on_response(uint32_t idx);
  void on_eof(uint32_t idx);

  bool counted(uint64_t t) const { return recording_ && t >= measure_start_; }
  uint64_t* sched(uint32_t idx) { return &sched_[static_cast<size_t>(idx) * depth_]; }

  const Plan& plan_;
  const Options& opt_;
  const uint32_t depth_;
  const uint64_t quota_;
  const double ns_per_req_;  // open loop; 0: closed loop
  const bool hold_;
  std::unique_ptr<core::Ring> ring_;
  std::unique_ptr<core::BufRing> bufs_;
  std::vector<Conn> conns_;
  std::vector<uint64_t> sched_;  // per connection: send (or intended) times in flight
  std::vector<uint32_t> idle_;   // open loop: connections waiting for a due request
  std::vector<uint32_t> rearm_;  // receives to re-arm after the buffers are returned
  uint32_t next_open_ = 0;       // connections [0, next_open_) have been opened once
  uint32_t connecting_ = 0;
  uint64_t inflight_ = 0;
  uint64_t dispatched_ = 0;  // open loop: scheduled requests sent so far
  uint64_t now_ = 0;
  uint64_t next_scan_ = 0;
  uint64_t stop_ns_ = 0;
  uint64_t measure_start_ = 0;
  uint64_t finish_ = 0;
  bool recording_ = false;
  bool stopping_ = false;
  bool ever_connected_ = false;
  Stats stats_;
  std::string error_;
};

}  // namespace ringway::load
