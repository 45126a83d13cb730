// Shard event loop (shard.h): quiescent point, batched CQE reaping, dispatch by op to the
// parts, accept, timers, drain.
#include "proxy/shard.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/user_data.h"
#include "ringway/log.h"

namespace ringway::proxy {

using core::Op;

namespace {
constexpr uint64_t kMaxWaitMs = 100;  // bounds how late a shard sees a reload or drain
// How often buffers left unused are given back (BufPool::trim, BufRing::trim): a burst's
// memory is released about a second after it ended, and steady load keeps what it uses.
constexpr uint64_t kTrimIntervalMs = 1000;
}  // namespace

Shard::Shard(uint32_t id, ShardContext* ctx, std::vector<int> listen_fds)
    : listen_fds_(std::move(listen_fds)),
      accepts_(listen_fds_.size()),
      listeners_open_(static_cast<uint32_t>(listen_fds_.size())),
      k_(id, ctx, clock_.now_ms()),
      client_(k_, client_, fwd_, up_),
      fwd_(k_, client_, fwd_, up_),
      up_(k_, client_, fwd_, up_) {
  for (uint32_t i = 0; i < accepts_.size(); ++i) {
    accepts_[i].retry.owner = i;
    accepts_[i].retry.kind = static_cast<uint8_t>(TimerKind::kAcceptBackoff);
  }
  k_.req_sink = http::BodySink{&k_, &ClientSide::on_req_body};
  k_.resp_sink = http::BodySink{&k_, &Upstreams::on_resp_body};
  k_.unix_s_ = clock_.unix_s();
}

Shard::~Shard() {
  for (AcceptState& a : accepts_) {
    core::TimerWheel::disarm(&a.retry);
  }
}

void Shard::arm_wake() {
  if (k_.id_ >= k_.ctx_->wake_fds.size()) {
    return;
  }
  io_uring_sqe* s = k_.ring_.sqe();
  io_uring_prep_read(s, k_.ctx_->wake_fds[k_.id_], &wake_value_, sizeof(wake_value_), 0);
  io_uring_sqe_set_data64(s, core::encode(Op::kWake, 0, 0));
}

void Shard::run() noexcept {
  k_.current_ = k_.ctx_->rcu->current();
  arm_wake();
  for (uint32_t i = 0; i < listen_fds_.size(); ++i) {
    arm_accept(i);
  }
  for (;;) {
    quiescent_point();
    if (k_.id_ < k_.ctx_->loop_turns.shards()) {
      k_.ctx_->loop_turns.set(k_.id_, 0, ++turns_);  // one relaxed store: the watchdog's
    }
    publish_stats();
    if (k_.ctx_->draining.load(std::memory_order_acquire) && !k_.draining_) {
      start_drain();
    }
    if (k_.draining_ && drained()) {
      break;
    }
    uint64_t wait = k_.timers_.next_timeout_ms(k_.now_ms_, kMaxWaitMs);
    k_.ring_.submit_and_wait_batch(wait, wait_.batch, wait_.min_wait_us);
    k_.now_ms_ = clock_.now_ms();
    k_.unix_s_ = clock_.unix_s();
    accepted_ = 0;
    unsigned reaped = reap();
    // Open tunnels are exchanges too, but may stay quiet for hours.
    wait_ = plan_wait(reaped, accepted_ > 0, k_.in_flight_ - std::min(k_.in_flight_, k_.tunnels_));
    k_.timers_.expire(k_.now_ms_, [this](core::TimerNode* n) { on_timer(n); });
    if (k_.fd_freed_) {
      k_.fd_freed_ = false;
      resume_paused_accepts();
    }
    rearm_starved();
    k_.bufs_.flush();
    k_.up_bufs_.flush();
    if (k_.now_ms_ >= next_trim_ms_) {  // the loop turns at least every kMaxWaitMs
      k_.pool_.trim();
      k_.bufs_.trim();
      k_.up_bufs_.trim();
      k_.trim_idle();
      next_trim_ms_ = k_.now_ms_ + kTrimIntervalMs;
    }
    k_.alog_.tick(k_.ring_, k_.now_ms_, k_.draining_);
  }
  finish_access_log();
  k_.ctx_->rcu->report(k_.id_, RcuDomain<Snapshot>::kNone);
  RW_DEBUG("shard %u stopped", k_.id_);
}

// The RCU quiescent point: nothing from a previous turn is referenced except the
// snapshots in held_, so the oldest generation in use is reported.
void Shard::quiescent_point() {
  k_.current_ = k_.ctx_->rcu->current();
  uint64_t oldest = k_.current_->generation;
  for (const auto& h : k_.held_) {
    oldest = std::min(oldest, h.first->generation);
  }
  k_.ctx_->rcu->report(k_.id_, oldest);
}

// Once per turn: a few relaxed stores to this shard's own cells (no read-modify-write).
void Shard::publish_stats() {
  const core::ShardCells<uint64_t>& st = k_.ctx_->stats;
  if (st.shards() <= k_.id_) {
    return;
  }
  st.set(k_.id_, kStatBackendConns, k_.upstreams_.in_use());
  st.set(k_.id_, kStatRequests, k_.requests_);
  st.set(k_.id_, kStatTlsOk, k_.tls_handshakes_ok_);
  st.set(k_.id_, kStatTlsFailed, k_.tls_handshakes_failed_);
  st.set(k_.id_, kStatUpgrades, k_.upgrades_);
  st.set(k_.id_, kStatTunnels, k_.tunnels_);
  st.set(k_.id_, kStatTunnelsClosed, k_.tunnels_closed_);
  st.set(k_.id_, kStatTunnelUs, k_.tunnel_us_);
  st.set(k_.id_, kStatTunnelBytesIn, k_.tunnel_bytes_in_);
  st.set(k_.id_, kStatTunnelBytesOut, k_.tunnel_bytes_out_);
  st.set(k_.id_, kStatPooledBackendConns, k_.pooled_);
  st.set(k_.id_, kStatInFlight, k_.in_flight_);
  st.set(k_.id_, kStatBuffersInUse, k_.pool_.in_use());
  st.set(k_.id_, kStatHeldRecvBuffers,
         uint64_t{k_.bufs_.held()} + k_.up_bufs_.held() + k_.leads_held_);
}

unsigned Shard::reap() {
  return k_.ring_.reap([this](uint64_t ud, int res, uint32_t flags) { dispatch(ud, res, flags); });
}

void Shard::dispatch(uint64_t ud, int res, uint32_t flags) {
  Op op = core::op_of(ud);
  uint32_t slot = core::slot_of(ud);
  uint32_t gen = core::gen_of(ud);
  switch (op) {
    case Op::kIgnore:
      return;
    case Op::kListenClosed:
      --listeners_open_;
      return;
    case Op::kAccessLogWrite:
      k_.alog_.on_write(k_.ring_, res);  // -ECANCELED too: the write's lines are counted lost
      return;
    case Op::kFixFile:
      // A failed fix leaves the slot empty: the fd's ops then fail with -EBADF and the
      // connection closes. -ECANCELED: an unfix in a close chain whose send failed.
      if (res != -ECANCELED) {
        RW_WARN("shard %u: fixed-file slot %u: %s", k_.id_, slot, strerror(-res));
      }
      return;
    case Op::kWake:
      if (res > 0) {
        arm_wake();  // the loop top that follows sees the new snapshot or the drain
      }
      return;
    case Op::kAccept:
      on_accept(slot, res, flags);
      return;
    case Op::kClientRecv:
    case Op::kClientSend: {
      k_.bufs_.completed(res, flags);
      ClientConn* c = k_.clients_.get(slot);
      if (c == nullptr || k_.clients_.gen(slot) != gen) {
        k_.take_received(k_.bufs_, nullptr, res,
                         flags);  // recycled slot: drop, but keep the buffer
        return;
      }
      if ((flags & IORING_CQE_F_MORE) == 0) {
        --c->inflight;  // a multishot receive is in flight until its last completion
      }
      if (op == Op::kClientRecv) {
        client_.on_client_recv(*c, res, flags);
      } else {
        client_.on_client_sent(*c, res);
      }
      client_.client_maybe_free(*c);
      return;
    }
    case Op::kUpConnect:
    case Op::kUpSend:
    case Op::kUpRecv: {
      k_.up_bufs_.completed(res, flags);
      UpstreamConn* u = k_.upstreams_.get(slot);
      if (u == nullptr || k_.upstreams_.gen(slot) != gen) {
        k_.take_received(k_.up_bufs_, nullptr, res, flags);
        return;
      }
      if ((flags & IORING_CQE_F_MORE) == 0) {
        --u->inflight;
      }
      uint32_t lender = up_.return_lent(*u, op);
      if (op == Op::kUpConnect) {
        up_.on_upstream_connect(*u, res);
      } else if (op == Op::kUpSend) {
        up_.on_upstream_sent(*u, res);
      } else {
        up_.on_upstream_recv(*u, res, flags);
      }
      up_.upstream_maybe_free(*u);
      if (lender != kNoSlot) {
        client_.client_maybe_free(k_.clients_[lender]);  // its last lent buffer may have come back
      }
      return;
    }
  }
}

void Shard::arm_accept(uint32_t listener) {
  AcceptState& a = accepts_[listener];
  if (k_.draining_ || a.armed || a.retry.armed()) {
    return;
  }
  io_uring_sqe* s = k_.ring_.sqe();
  io_uring_prep_multishot_accept(s, listen_fds_[listener], nullptr, nullptr, 0);
  io_uring_sqe_set_data64(s, core::encode(Op::kAccept, listener, 0));
  a.armed = true;
}

void Shard::on_accept(uint32_t listener, int res, uint32_t flags) {
  if (!(flags & IORING_CQE_F_MORE)) {
    accepts_[listener].armed = false;  // the multishot ended: re-arm, or pause
    if (res < 0 && accept_starved(-res)) {
      pause_accept(listener, -res);  // re-armed now, it would fail at once: a spinning shard
      return;
    }
    if (res < 0 && res != -ECANCELED) {
      RW_WARN("shard %u: accept: %s", k_.id_, strerror(-res));
    }
    arm_accept(listener);
  }
  if (res < 0) {
    return;
  }
  accepts_[listener].backoff.succeeded();
  ++accepted_;
  if (k_.draining_ || k_.ctx_->connections() >= k_.current_->c().config.limits.max_connections) {
    k_.close_fd(res, Op::kIgnore, false, false);  // over max_connections: closed at once
    return;
  }
  client_.client_open(res, listener);
}

// Stops accepting on `listener` for the backoff's pause; the connections it has are served
// meanwhile, and new ones wait in the listen backlog. Reported at most once per interval.
void Shard::pause_accept(uint32_t listener, int err) {
  AcceptState& a = accepts_[listener];
  AcceptBackoff::Pause p = a.backoff.failed(k_.now_ms_);
  if (p.report > 0) {
    RW_WARN(
        "shard %u: listener %s: accept paused: %s (%llu failures since last report), "
        "retrying in %u ms",
        k_.id_, k_.current_->c().config.listeners[listener].name.c_str(), strerror(err),
        static_cast<unsigned long long>(p.report), p.ms);
  }
  if (k_.draining_) {
    return;
  }
  k_.timers_.arm(&a.retry, k_.now_ms_ + p.ms);
}

// An fd was closed in this turn: a paused listener may find it free. The retry runs at
// the next expiry, behind the submit that carries the close. A retry that fails again
// pauses for the next, longer step.
void Shard::resume_paused_accepts() {
  for (AcceptState& a : accepts_) {
    if (a.retry.armed() && a.retry.deadline_ms > k_.now_ms_) {
      k_.timers_.arm(&a.retry, k_.now_ms_);
    }
  }
}

void Shard::on_timer(core::TimerNode* node) {
  auto kind = static_cast<TimerKind>(node->kind);
  if (kind == TimerKind::kAcceptBackoff) {
    arm_accept(node->owner);
    return;
  }
  if (kind == TimerKind::kUpstreamIdle) {
    UpstreamConn* u = k_.upstreams_.get(node->owner);
    if (u != nullptr && u->state == UpstreamState::kIdle) {
      up_.upstream_close(*u);
      up_.upstream_maybe_free(*u);
    }
    return;
  }
  ClientConn* c = k_.clients_.get(node->owner);
  if (c != nullptr && c->state != ClientState::kClosing) {
    client_.on_client_timer(*c, kind);
    client_.client_maybe_free(*c);
  }
}

void Shard::start_drain() {
  k_.draining_ = true;
  for (AcceptState& a : accepts_) {
    core::TimerWheel::disarm(&a.retry);  // a paused listener is closed like the others
  }
  // Closing the listeners (after cancelling their accepts) makes new connections fail.
  for (int& fd : listen_fds_) {
    k_.close_fd(fd, Op::kListenClosed);
    fd = -1;
  }
  for (uint32_t i = 0; i < k_.clients_.capacity(); ++i) {
    ClientConn* c = k_.clients_.get(i);
    if (c == nullptr || c->fd < 0 || c->state == ClientState::kClosing) {
      continue;
    }
    if (c->state == ClientState::kIdle) {
      client_.client_close(*c);
      client_.client_maybe_free(*c);
    } else {
      c->keep_alive = false;  // finish this exchange, then close
    }
  }
  up_.close_idle();
}

bool Shard::drained() const {
  if (k_.ctx_->force_stop.load(std::memory_order_acquire)) {
    return true;
  }
  // Listeners must really be closed before the thread ends: an unsubmitted close would
  // leave the socket accepting into a backlog nobody serves until the process exits.
  return client_.count() == 0 && k_.upstreams_.in_use() == 0 && listeners_open_ == 0 &&
         k_.alog_.idle();
}

// The shard ends: what its access log still buffers is written, waiting at most about a
// second (after a forced stop, a write may still be in flight); then its generation cell
// stops holding the file open.
void Shard::finish_access_log() {
  for (int i = 0; i < 20 && !k_.alog_.idle(); ++i) {
    k_.alog_.tick(k_.ring_, k_.now_ms_, true);
    k_.ring_.submit_and_wait(50);
    reap();
  }
  k_.alog_.retire();
}

void Shard::rearm_starved() {
  // Held receive bytes that were asked for. Handing them over can ask again (a consumer
  // that took some and has room for more): the loop ends when a pass moved nothing new.
  while (!k_.ready_clients_.empty() || !k_.ready_upstreams_.empty()) {
    std::vector<uint32_t> ready;
    ready.swap(k_.ready_clients_);
    for (uint32_t slot : ready) {
      ClientConn* c = k_.clients_.get(slot);
      if (c != nullptr && c->rx.queued) {
        client_.client_rx_ready(*c);
      }
    }
    ready.clear();
    ready.swap(k_.ready_upstreams_);
    for (uint32_t slot : ready) {
      UpstreamConn* u = k_.upstreams_.get(slot);
      if (u != nullptr && u->rx.queued) {
        up_.upstream_rx_ready(*u);
      }
    }
  }
  // Buffers came back during this batch: receives that found none try again.
  std::vector<uint32_t> clients;
  clients.swap(k_.starved_clients_);
  for (uint32_t slot : clients) {
    ClientConn* c = k_.clients_.get(slot);
    if (c != nullptr && c->state != ClientState::kClosing) {
      client_.client_recv(*c);
    }
  }
  std::vector<uint32_t> ups;
  ups.swap(k_.starved_upstreams_);
  for (uint32_t slot : ups) {
    UpstreamConn* u = k_.upstreams_.get(slot);
    if (u != nullptr && u->state != UpstreamState::kClosing) {
      up_.upstream_recv(*u);
    }
  }
}

}  // namespace ringway::proxy
