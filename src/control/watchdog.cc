#include "control/watchdog.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>

#include "control/loop_ops.h"

namespace ringway::control {
namespace {

// A positive decimal number without sign, spaces or trailing characters; 0 otherwise.
uint64_t parse_positive(const char* s) {
  if (s == nullptr || *s < '0' || *s > '9') {
    return 0;
  }
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') {
    return 0;
  }
  return v;
}

}  // namespace

Watchdog Watchdog::from_env(const char* watchdog_usec, const char* watchdog_pid, pid_t self) {
  Watchdog w;
  const uint64_t usec = parse_positive(watchdog_usec);
  if (usec == 0) {
    return w;
  }
  if (watchdog_pid != nullptr && watchdog_pid[0] != '\0' &&
      parse_positive(watchdog_pid) != static_cast<uint64_t>(self)) {
    return w;
  }
  w.interval_ms_ = std::max<uint64_t>(1, usec / 2 / 1000);
  return w;
}

void Watchdog::start(uint64_t now, std::span<const uint64_t> turns) {
  if (!enabled()) {
    return;
  }
  seen_.assign(turns.begin(), turns.end());
  next_due_ = now + interval_ms_;
}

bool Watchdog::tick(uint64_t now, std::span<const uint64_t> turns) {
  if (!enabled() || next_due_ == kNever || now < next_due_) {
    return false;
  }
  bool all_moved = turns.size() == seen_.size();
  for (size_t i = 0; all_moved && i < turns.size(); ++i) {
    all_moved = turns[i] != seen_[i];
  }
  seen_.assign(turns.begin(), turns.end());
  next_due_ = now + interval_ms_;
  return all_moved;
}

void read_turns(const core::ShardCells<uint64_t>& cells, std::vector<uint64_t>& out) {
  out.resize(cells.shards());
  for (uint32_t s = 0; s < cells.shards(); ++s) {
    out[s] = cells.at(s, 0).load(std::memory_order_relaxed);
  }
}

}  // namespace ringway::control
