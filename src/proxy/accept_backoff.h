// When a listener's accept fails for want of a resource (no free fd: EMFILE, ENFILE; kernel
// memory: ENOBUFS, ENOMEM), an accept re-armed at once fails again at once and the shard
// spins. Its shard pauses that listener instead: kFirstMs after the first failure, doubling
// up to kMaxMs, back to kFirstMs once an accept succeeds. Failures are reported at most once
// per kReportMs, with their count. A pure schedule (time is a parameter), unit-tested
// without sockets.
//
// Thread affinity: shard-local.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace ringway::proxy {

// True for an accept error that waiting can outlast (fds or memory freed by closes).
inline bool accept_starved(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

class AcceptBackoff {
 public:
  static constexpr uint32_t kFirstMs = 10;
  static constexpr uint32_t kMaxMs = 1000;
  static constexpr uint64_t kReportMs = 1000;

  struct Pause {
    uint32_t ms = 0;      // how long to wait before the next accept
    uint64_t report = 0;  // failures to report now (all since the last report); 0: stay quiet
  };

  // An accept failed at now_ms.
  Pause failed(uint64_t now_ms) {
    Pause p;
    p.ms = next_ms_;
    next_ms_ = std::min(next_ms_ * 2, kMaxMs);
    ++unreported_;
    if (!reported_ || now_ms - last_report_ms_ >= kReportMs) {
      reported_ = true;
      last_report_ms_ = now_ms;
      p.report = unreported_;
      unreported_ = 0;
    }
    return p;
  }

  // An accept succeeded: the next failure pauses kFirstMs again. Failures not reported yet
  // are kept for the next report.
  void succeeded() { next_ms_ = kFirstMs; }

  uint32_t next_ms() const { return next_ms_; }

 private:
  uint32_t next_ms_ = kFirstMs;
  uint64_t unreported_ = 0;
  uint64_t last_report_ms_ = 0;
  bool reported_ = false;
};

}  // namespace ringway::proxy
