// Time as a parameter. Code that needs "now" is handed a Clock (or a value read from one
// once per loop turn), so windows and timeouts are tested with ManualClock, not sleeps.
// SteadyClock (src/core/clock.cc) is the only place that reads real time.
#pragma once

#include <cstdint>

namespace ringway {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds on a monotonic scale with an arbitrary origin.
  virtual uint64_t now_ms() const = 0;
  // Seconds since the Unix epoch (wall clock; signatures carry dates).
  virtual int64_t unix_s() const = 0;
};

class SteadyClock final : public Clock {
 public:
  uint64_t now_ms() const override;
  int64_t unix_s() const override;
};

// A clock that moves only when told. Tests only.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t start_ms = 1000) : now_(start_ms) {}
  uint64_t now_ms() const override { return now_; }
  int64_t unix_s() const override { return unix_; }
  void set_unix(int64_t s) { unix_ = s; }
  void advance(uint64_t ms) { now_ += ms; }
  void set(uint64_t ms) { now_ = ms; }

 private:
  uint64_t now_;
  int64_t unix_ = 1'700'000'000;
};

// Direct clock reads for what a per-turn reading is too coarse for (request durations):
// microseconds on the monotonic scale, and the wall clock in milliseconds since the Unix
// epoch. vDSO reads, no syscall; any thread.
uint64_t monotonic_us();
int64_t unix_ms();

}  // namespace ringway
