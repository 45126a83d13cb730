#include "control/control_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "control/process.h"
#include "control/systemd.h"
#include "proxy/shard_core.h"
#include "ringway/log.h"

namespace ringway::control {
namespace {

constexpr uint32_t kRingEntries = 256;  // health checks queue two entries per check

}  // namespace

ControlLoop::ControlLoop(const Clock& clock, RcuDomain<proxy::Snapshot>& rcu)
    : clock_(clock), rcu_(rcu), ring_(std::make_unique<core::Ring>(kRingEntries)) {
  sigset_t sigs = control_signals();
  // Blocking reads: io_uring waits for readiness itself (a non-blocking fd would make the
  // read complete with -EAGAIN).
  signal_fd_ = signalfd(-1, &sigs, SFD_CLOEXEC);
  exit_fd_ = eventfd(0, EFD_CLOEXEC);
  if (signal_fd_ < 0 || exit_fd_ < 0) {
    const int err = errno;
    for (int fd : {signal_fd_, exit_fd_}) {
      if (fd >= 0) {
        close(fd);
      }
    }
    throw std::runtime_error(std::string("signalfd/eventfd: ") + strerror(err));
  }
  checker_ = std::make_unique<health::Checker>(clock_, *ring_, encode(Op::kHealth));
  arm_signal_read();
  arm_exit_read();
}

ControlLoop::~ControlLoop() {
  checker_.reset();  // waits on the ring for its own completions
  ring_.reset();     // cancels the pending reads before their targets go
  admin_.reset();    // closes the admin sockets
  etcd_.reset();     // closes its connection
  if (signal_fd_ >= 0) {
    close(signal_fd_);
  }
  if (exit_fd_ >= 0) {
    close(exit_fd_);
  }
}

void ControlLoop::start_admin(int listen_fd, const admin::Sources& src) {
  admin_ = std::make_unique<admin::Server>(*ring_, encode(Op::kAdmin), listen_fd, src);
}

bool ControlLoop::start_etcd(const config::EtcdSource& cfg, Publisher& publisher,
                             uint64_t deadline_ms) {
  publisher_ = &publisher;
  etcd_ = std::make_unique<EtcdWatch>(clock_, *ring_, encode(Op::kEtcd), cfg,
                                      publisher.source_status());
  while (phase_ == Phase::kServing && !etcd_->has_read()) {
    const uint64_t now = clock_.now_ms();
    if (now >= deadline_ms) {
      break;
    }
    poll_etcd();
    turn(std::min({deadline_ms, etcd_due(), admin_due()}));
  }
  poll_etcd();
  publisher_ = nullptr;
  return etcd_->has_read();
}

void ControlLoop::poll_etcd() {
  if (etcd_ && etcd_->poll(clock_.now_ms())) {
    publisher_->install_shared(etcd_->objects(), etcd_->revision());
  }
}

void ControlLoop::arm_signal_read() {
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_read(s, signal_fd_, &siginfo_, sizeof(siginfo_), 0);
  io_uring_sqe_set_data64(s, encode(Op::kSignal));
}

void ControlLoop::arm_exit_read() {
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_read(s, exit_fd_, &exits_, sizeof(exits_), 0);
  io_uring_sqe_set_data64(s, encode(Op::kShardExit));
}

void ControlLoop::watch(const Watchdog& wd, const proxy::ShardContext& ctx) {
  if (!wd.enabled()) {
    return;
  }
  watchdog_ = wd;
  watched_ = &ctx;
  read_turns(ctx.loop_turns, turns_);
  watchdog_.start(clock_.now_ms(), turns_);
  ctx.wake_all();  // every shard turns before the first tick, as before each later one
}

void ControlLoop::watchdog_tick(uint64_t now) {
  if (watched_ == nullptr || now < watchdog_.next_due()) {
    return;
  }
  read_turns(watched_->loop_turns, turns_);
  if (watchdog_.tick(now, turns_)) {
    notify_systemd("WATCHDOG=1");
  } else {
    RW_WARN("watchdog: a shard did not turn in %llu ms: no WATCHDOG=1",
            static_cast<unsigned long long>(watchdog_.interval_ms()));
  }
  watched_->wake_all();
}

void ControlLoop::serve(Publisher& publisher) {
  publisher_ = &publisher;
  while (phase_ == Phase::kServing) {  // SIGTERM may have come while start_etcd waited
    const uint64_t now = clock_.now_ms();
    watchdog_tick(now);
    health_changed_ = checker_->start_due(now) || health_changed_;
    if (health_changed_) {  // a check can end as it starts (no socket)
      health_changed_ = false;
      publisher.publish();
    }
    poll_etcd();
    turn(std::min(
        {checker_->next_due(now), reclaim_due_, admin_due(), watchdog_.next_due(), etcd_due()}));
    poll_etcd();
    if (health_changed_ && phase_ == Phase::kServing) {
      health_changed_ = false;
      publisher.publish();
    }
    reclaim();
  }
  publisher_ = nullptr;
}

bool ControlLoop::drain(const ShardThreads& st, uint64_t deadline_ms) {
  phase_ = Phase::kDraining;
  checker_->set_targets({});  // no check starts while draining; in-flight ones are cancelled
  while (!all_done(st)) {
    if (clock_.now_ms() >= deadline_ms) {
      return false;
    }
    turn(std::min({deadline_ms, reclaim_due_, admin_due()}));
    reclaim();
  }
  return true;
}

void ControlLoop::turn(uint64_t wake_at) {
  const uint64_t wait = wait_ms(clock_.now_ms(), {wake_at});
  if (wait == kNever) {
    int rc = io_uring_submit_and_wait(ring_->raw(), 1);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      RW_WARN("control: io_uring_submit_and_wait: %s", strerror(-rc));
    }
  } else {
    ring_->submit_and_wait(wait);
  }
  io_uring* ring = ring_->raw();
  cqes_.clear();
  unsigned head = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(ring, head, cqe) { cqes_.emplace_back(cqe->user_data, cqe->res); }
  io_uring_cq_advance(ring, static_cast<unsigned>(cqes_.size()));
  for (const auto& [user_data, res] : cqes_) {
    dispatch(user_data, res);
  }
  if (admin_) {
    admin_->expire(clock_.now_ms());
  }
}

uint64_t ControlLoop::admin_due() const { return admin_ ? admin_->next_deadline() : kNever; }

void ControlLoop::dispatch(uint64_t user_data, int res) {
  switch (op_of(user_data)) {
    case Op::kSignal:
      on_signal(res);
      break;
    case Op::kShardExit:
      arm_exit_read();  // drain() checks ShardThreads after the turn
      break;
    case Op::kHealth:
      health_changed_ = checker_->on_completion(user_data, res) || health_changed_;
      break;
    case Op::kAdmin:
      if (admin_) {
        admin_->on_completion(user_data, res);
      }
      break;
    case Op::kEtcd:
      if (etcd_) {
        etcd_->on_completion(user_data, res);
      }
      break;
    case Op::kIgnore:
      break;
  }
}

void ControlLoop::on_signal(int res) {
  if (res < 0 && res != -EINTR && res != -EAGAIN) {
    // Not expected from a signalfd; re-arming would spin on the same error.
    RW_ERROR("control: signalfd read: %s: signals are no longer handled", strerror(-res));
    return;
  }
  arm_signal_read();
  if (res != static_cast<int>(sizeof(siginfo_)) || phase_ != Phase::kServing) {
    return;  // while stopping or draining, signals are ignored
  }
  const int sig = static_cast<int>(siginfo_.ssi_signo);
  if (sig == SIGTERM || sig == SIGINT) {
    phase_ = Phase::kStopping;
  } else if (sig == SIGHUP) {
    notify_systemd("RELOADING=1");
    publisher_->reload();
    notify_systemd("READY=1");
  } else if (sig == SIGUSR1) {
    publisher_->access_log().reopen();
  }
}

void ControlLoop::reclaim() {
  const uint64_t now = clock_.now_ms();
  size_t kept = rcu_.reclaim();
  if (publisher_ != nullptr) {
    kept += publisher_->access_log().reclaim();  // replaced access log fds the shards left
  }
  reclaim_due_ = next_reclaim(now, kept);
}

}  // namespace ringway::control
