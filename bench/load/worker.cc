#include "worker.h"

#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <exception>

namespace ringway::load {
namespace {

constexpr uint32_t kRingEntries = 4096;
constexpr uint32_t kBufCount = 128;  // few buffers: they stay in cache
constexpr uint32_t kBufSize = 16384;
constexpr uint32_t kOpenWindow = 256;     // connections being set up at once
constexpr uint64_t kScanNs = 20'000'000;  // timeout and reconnect scan period

}  // namespace

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kNsPerSec + static_cast<uint64_t>(ts.tv_nsec);
}

void Stats::merge(const Stats& o) {
  requests += o.requests;
  responses += o.responses;
  lost += o.lost;
  unsent += o.unsent;
  connects += o.connects;
  bytes_read += o.bytes_read;
  bytes_written += o.bytes_written;
  for (int i = 0; i < kErrKinds; ++i) {
    errors[i] += o.errors[i];
  }
  for (int i = 0; i < 6; ++i) {
    status_class[i] += o.status_class[i];
  }
  latency.merge(o.latency);
}

uint64_t Stats::error_total() const {
  uint64_t n = 0;
  for (uint64_t e : errors) {
    n += e;
  }
  return n;
}

Worker::Worker(const Plan& plan, uint32_t connections, uint64_t quota, double rate)
    : plan_(plan),
      opt_(*plan.opt),
      depth_(plan.opt->pipeline),
      quota_(quota),
      ns_per_req_(rate > 0 ? 1e9 / rate : 0),
      hold_(plan.opt->hold_ns != 0),
      conns_(connections),
      sched_(static_cast<size_t>(connections) * plan.opt->pipeline) {
  idle_.reserve(connections);
  rearm_.reserve(connections + 64);
}

Worker::~Worker() {
  for (Conn& c : conns_) {
    if (c.fd >= 0) {
      close(c.fd);
    }
  }
}

uint32_t Worker::open_connections() const {
  return static_cast<uint32_t>(
      std::count_if(conns_.begin(), conns_.end(), [](const Conn& c) { return c.st == St::kOpen; }));
}

void Worker::run() noexcept {
  try {
    ring_ = std::make_unique<core::Ring>(kRingEntries);
    bufs_ = std::make_unique<core::BufRing>(*ring_, 0, kBufCount, kBufSize);
  } catch (const std::exception& e) {
    error_ = e.what();
    return;
  }
  loop();
}

void Worker::loop() {
  now_ = MonotonicNs();
  next_scan_ = now_ + kScanNs;
  for (;;) {
    tick();
    if (done()) {
      break;
    }
    wait();
    now_ = MonotonicNs();
    reap();
    bufs_->flush();
    rearm();
  }
  finish_run();
}

void Worker::tick() {
  if (!recording_ && now_ >= plan_.measure_ns) {
    stats_ = Stats{};
    recording_ = true;
    measure_start_ = now_;
  }
  // A target that never accepts a connection within the timeout ends the run early.
  const bool unreachable = !ever_connected_ && now_ >= plan_.start_ns + opt_.timeout_ns;
  if (!stopping_ && (now_ >= plan_.end_ns || plan_.stop->load(std::memory_order_relaxed) ||
                     unreachable || (quota_ != 0 && recording_ && stats_.requests >= quota_))) {
    stopping_ = true;
    stop_ns_ = now_;
  }
  while (!stopping_ && next_open_ < conns_.size() &&
         connecting_ + (hold_ ? inflight_ : 0) < kOpenWindow) {
    open(next_open_++);
  }
  if (ns_per_req_ > 0 && !stopping_) {
    dispatch_open_loop();
  }
  if (now_ >= next_scan_) {
    scan();
    next_scan_ = now_ + kScanNs;
  }
}

bool Worker::done() const {
  return stopping_ && (inflight_ == 0 || now_ >= stop_ns_ + opt_.timeout_ns);
}

void Worker::wait() {
  uint64_t next = next_scan_;
  if (!recording_) {
    next = std::min(next, plan_.measure_ns);
  }
  if (!stopping_) {
    next = std::min(next, plan_.end_ns);
    if (ns_per_req_ > 0 && !idle_.empty()) {
      next = std::min(next, intended(dispatched_));
    }
  }
  const uint64_t ns = next > now_ ? next - now_ : 0;
  __kernel_timespec ts{};
  ts.tv_sec = static_cast<long long>(ns / kNsPerSec);
  ts.tv_nsec = static_cast<long long>(ns % kNsPerSec);
  io_uring_cqe* cqe = nullptr;
  io_uring_submit_and_wait_timeout(ring_->raw(), &cqe, 1, &ts, nullptr);
}

void Worker::reap() {
  ring_->reap([this](uint64_t ud, int res, uint32_t flags) { dispatch(ud, res, flags); });
}

void Worker::dispatch(uint64_t user_data, int res, uint32_t flags) {
  const auto op = static_cast<Op>(user_data >> 56);
  const auto gen = static_cast<uint32_t>(user_data >> 32) & kGenMask;
  const auto idx = static_cast<uint32_t>(user_data);
  if ((conns_[idx].gen & kGenMask) != gen) {  // a completion for a connection now closed
    if (op == kOpRecv && (flags & IORING_CQE_F_BUFFER) != 0) {
      bufs_->recycle(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT));
    }
    return;
  }
  switch (op) {
    case kOpConnect:
      on_connect(idx, res);
      break;
    case kOpSend:
      on_send(idx, res);
      break;
    case kOpRecv:
      on_recv(idx, res, flags);
      break;
  }
}

void Worker::rearm() {
  for (uint32_t idx : rearm_) {
    const Conn& c = conns_[idx];
    if (c.st == St::kOpen && !c.recv_armed) {
      arm_recv(idx);
    }
  }
  rearm_.clear();
}

uint64_t Worker::due() const {
  if (now_ < plan_.start_ns) {
    return 0;
  }
  return static_cast<uint64_t>(static_cast<double>(now_ - plan_.start_ns) / ns_per_req_) + 1;
}

uint32_t Worker::allowed(uint64_t k) const {
  if (quota_ != 0 && recording_) {
    k = std::min(k, quota_ > stats_.requests ? quota_ - stats_.requests : 0);
  }
  return static_cast<uint32_t>(k);
}

uint32_t Worker::want() const {
  if (ns_per_req_ == 0) {
    return allowed(depth_);
  }
  const uint64_t d = due();
  return allowed(d > dispatched_ ? std::min<uint64_t>(depth_, d - dispatched_) : 0);
}

void Worker::dispatch_open_loop() {
  while (!idle_.empty()) {
    const uint32_t k = want();
    if (k == 0) {
      return;
    }
    const uint32_t idx = idle_.back();
    idle_.pop_back();
    Conn& c = conns_[idx];
    c.idle_listed = false;
    if (c.st == St::kOpen && c.inflight == 0 && !c.sending) {
      send_batch(idx, k);
    }
  }
}

void Worker::scan() {
  for (uint32_t idx = 0; idx < next_open_; ++idx) {
    Conn& c = conns_[idx];
    if (c.st == St::kClosed) {
      if (!stopping_ && now_ >= c.retry_at && !(hold_ && c.served != 0)) {
        open(idx);
      }
    } else if (c.deadline != 0 && now_ >= c.deadline) {
      fail(idx, c.st == St::kConnecting ? kErrConnect : kErrTimeout, 0);
    }
  }
}

void Worker::finish_run() {
  finish_ = now_;
  for (uint32_t idx = 0; idx < conns_.size(); ++idx) {
    if (conns_[idx].inflight != 0) {
      fail(idx, kErrTimeout, 0);  // still unanswered after the drain time
    }
  }
  if (ns_per_req_ > 0) {
    const uint64_t d = std::min(
        due(),
        static_cast<uint64_t>(static_cast<double>(stop_ns_ - plan_.start_ns) / ns_per_req_) + 1);
    stats_.unsent = d > dispatched_ ? d - dispatched_ : 0;
  }
  if (!hold_) {
    for (Conn& c : conns_) {
      close_conn(c);
    }
  }
}

}  // namespace ringway::load
