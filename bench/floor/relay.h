// The relay loop of ringway-floor (floor.cc says what the floor is for): one thread, one
// io_uring, one provided-buffer ring, a fixed table of client/backend pairs.
//
// Per pair: a multishot receive on each socket fills provided buffers; each buffer is sent
// to the other socket straight from where the kernel put it and goes back to the buffer
// ring when its send has completed. Backend connections are opened ahead of need (the
// pool) so an accepted client is paired at once.
//
// Limitation: a buffer stays out of the shared buffer ring until its bytes are sent, so a
// client that stops reading holds up to about kHighWater buffers; kBufCount / kHighWater
// (64) such clients can leave none for the others until they read again. Good enough for
// a benchmark target whose clients read everything; a production relay would copy out or
// budget buffers per connection.
//
// Thread affinity: everything runs on the thread that calls run() (the ring is
// SINGLE_ISSUER); the constructor must run on that thread too.
#pragma once

#include <sys/signalfd.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/ring.h"

namespace ringway::floor {

struct RelayConfig {
  int listen_fd = -1;        // bound and listening; the relay owns it from then on
  int signal_fd = -1;        // a signalfd for SIGINT and SIGTERM (owned by the caller)
  sockaddr_storage backend;  // a loopback address (checked by the caller)
  socklen_t backend_len = 0;
  uint32_t spare = 64;         // pre-opened backend connections kept ready
  uint32_t max_conns = 20000;  // client connections at once; more are accepted and closed
};

// What happened, printed on stderr at exit (a bench run can tell a clean run from one
// that ran out of buffers or refused clients).
struct RelayCounters {
  uint64_t clients = 0;       // paired or waiting clients accepted
  uint64_t refused = 0;       // clients beyond --max-conns, closed at once
  uint64_t bytes[2] = {};     // received from clients / from the backend
  uint64_t pauses = 0;        // receives paused at kHighWater (a slow peer)
  uint64_t out_of_bufs = 0;   // receives that ended with -ENOBUFS (each lets one more
                              // buffer out, up to all 1024)
  uint64_t connect_fail = 0;  // backend connects that failed
};

class Relay {
 public:
  // Allocates every table and sets up the rings. Throws std::runtime_error (start-up only).
  explicit Relay(const RelayConfig& config);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Relays until a signal arrives on config.signal_fd.
  void run() noexcept;
  const RelayCounters& counters() const { return counters_; }

 private:
  static constexpr uint16_t kNoBuf = 0xffff;
  enum class PairState : uint8_t { kFree, kConnecting, kPooled, kPaired };
  enum class RecvState : uint8_t { kIdle, kArmed, kCanceling };

  // One direction: bytes received on socket `d` of the pair, waiting to go out on the other
  // socket in the order received. The queue is a list threaded through the per-buffer
  // `next_` array, so it never overflows: its length is bounded by the buffer count
  // (and softly by kHighWater, past which the receive is paused).
  struct Flow {
    uint16_t head = kNoBuf;
    uint16_t tail = kNoBuf;
    uint16_t queued = 0;
    uint32_t sent = 0;  // bytes of the head buffer already sent
    RecvState recv = RecvState::kIdle;
    bool sending = false;  // a send of the head buffer is in flight
    bool eof = false;      // EOF or error received: flush the queue, then close the pair
  };
  // Socket 0 is the client, socket 1 the backend; flow d carries bytes from socket d.
  struct Pair {
    int fd[2] = {-1, -1};
    bool fixed[2] = {false, false};  // fd[i] is in the ring's fixed-file table
    uint32_t gen = 0;
    uint32_t pool_pos = 0;  // index in pool_ while kPooled
    PairState state = PairState::kFree;
    Flow flow[2];
  };
  struct Rearm {
    uint32_t slot;
    uint32_t gen;
    uint8_t dir;
  };

  void reap();
  void dispatch(uint64_t user_data, int res, uint32_t flags);
  void after_batch();

  void arm_accept();
  void arm_signal();
  void on_accept(int res, uint32_t flags);
  void refill();
  void start_connect();
  void on_connect(uint32_t slot, int res);
  void on_connect_failed(uint32_t slot, int res);
  void on_timer();
  void attach(uint32_t slot, int client_fd);

  void arm_recv(uint32_t slot, int dir);
  void on_recv(uint32_t slot, int dir, int res, uint32_t flags);
  void on_recv_end(uint32_t slot, int dir, int res);
  void enqueue(uint32_t slot, int dir, uint16_t bid, uint32_t len);
  void pause_recv(uint32_t slot, int dir);
  void maybe_arm(uint32_t slot, int dir);
  void send_head(uint32_t slot, int dir);
  void on_send(uint32_t slot, int dir, uint16_t bid, int res);

  void close_pair(uint32_t slot);
  void release_queue(Flow& f);
  void queue_close(int fd, bool fixed);
  void close_now(int fd);
  void recycle(uint16_t bid);
  void pool_remove(uint32_t slot);

  const RelayConfig config_;
  const uint32_t slots_;  // max_conns + spare
  std::unique_ptr<core::Ring> ring_;
  std::unique_ptr<core::BufRing> bufs_;
  std::vector<Pair> pairs_;
  std::vector<uint32_t> free_;  // free slots (a stack)
  std::vector<uint32_t> pool_;  // pooled slots: backend connected, no client yet
  std::vector<int> waiting_;    // accepted clients waiting for a backend (a ring)
  uint32_t waiting_head_ = 0;   // index of the oldest waiting client
  uint32_t waiting_count_ = 0;  // accepted clients waiting
  std::vector<Rearm> rearm_;    // receives to re-arm once buffers are back (-ENOBUFS)
  std::vector<uint16_t> next_;  // per buffer: the next buffer of its flow's queue
  std::vector<uint32_t> len_;   // per buffer: bytes received into it
  uint32_t held_ = 0;           // buffers out of the buffer ring
  uint32_t clients_ = 0;        // accepted clients not closed yet (paired or waiting)
  uint32_t connecting_ = 0;     // backend connects in flight
  bool stop_ = false;           // a signal arrived
  bool accept_armed_ = false;   // the multishot accept is in flight
  bool backoff_ = false;        // a connect failed: no new connect until the timer fires
  bool backend_down_ = false;   // reported on stderr once per outage
  RelayCounters counters_;
  signalfd_siginfo siginfo_{};      // the signalfd read's destination
  __kernel_timespec connect_ts_{};  // link timeout of each connect (read at submit)
  __kernel_timespec backoff_ts_{};  // pause after a failed connect
};

}  // namespace ringway::floor
