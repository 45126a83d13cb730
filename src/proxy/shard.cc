// Shard event loop: quiescent point, batched CQE reaping, dispatch by op, accept, timers,
// drain. Client and backend state machines are in client.cc and upstream.cc.
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
constexpr uint32_t kRingEntries = 2048;
constexpr uint32_t kRecvBufs = 1024;
constexpr uint32_t kMaxUpstreamsPerShard = 65536;
// After a turn that accepted connections, the loop waits up to kBatchWaitUs for as many
// completions as that turn handled (at most kMaxBatch): fewer wake-ups of a sleeping shard
// for connecting clients. Only after accepts (bench/README.md, "Why the code is so").
constexpr unsigned kMaxBatch = 32;
constexpr uint32_t kBatchWaitUs = 10;
constexpr uint64_t kMaxWaitMs = 100;  // bounds how late a shard sees a reload or drain
// Fixed-file slots per shard (fd numbers above use plain fds): 8 bytes of kernel memory each.
constexpr unsigned kFixedFileSlots = 1u << 17;
}  // namespace

size_t BackendKeyHash::operator()(const BackendKey& k) const {
  // FNV-1a over the address bytes: few distinct keys, called once per pool lookup.
  uint64_t h = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const unsigned char*>(&k.addr);
  for (socklen_t i = 0; i < k.len; ++i) {
    h = (h ^ p[i]) * 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

Shard::Shard(uint32_t id, ShardContext* ctx, std::vector<int> listen_fds)
    : id_(id),
      ctx_(ctx),
      listen_fds_(std::move(listen_fds)),
      accepts_(listen_fds_.size()),
      listeners_open_(static_cast<uint32_t>(listen_fds_.size())),
      now_ms_(clock_.now_ms()),
      ring_(kRingEntries),
      bufs_(ring_, 0, kRecvBufs, kRecvBufSize),
      up_bufs_(ring_, 1, kUpRecvBufs, kUpRecvBufSize, kUpHeadroom),
      lead_msgs_(kUpRecvBufs),
      timers_(now_ms_),
      clients_(std::max<uint32_t>(ctx->max_connections, 1)),
      upstreams_(kMaxUpstreamsPerShard),
      scratch_(65536) {
  ring_.register_fd_table(kFixedFileSlots);
  for (uint32_t i = 0; i < accepts_.size(); ++i) {
    accepts_[i].retry.owner = i;
    accepts_[i].retry.kind = static_cast<uint8_t>(TimerKind::kAcceptBackoff);
  }
  if (getrandom(&rid_seed_, sizeof(rid_seed_), 0) != sizeof(rid_seed_)) {
    rid_seed_ = now_ms_ * 0x9e3779b97f4a7c15ull + id;
  }
}

// A forced stop leaves connections open: give their memory back (fds die with the
// process; the ring is torn down after this body, cancelling what is pending).
Shard::~Shard() {
  for (AcceptState& a : accepts_) {
    core::TimerWheel::disarm(&a.retry);
  }
  for (uint32_t i = 0; i < clients_.capacity(); ++i) {
    ClientConn* c = clients_.get(i);
    if (c != nullptr) {
      give_parsers(*c);
      pool_.put(c->in);
      pool_.put(c->out);
      pool_.put(c->up_out);
    }
  }
  for (uint32_t i = 0; i < upstreams_.capacity(); ++i) {
    UpstreamConn* u = upstreams_.get(i);
    if (u != nullptr) {
      pool_.put(u->in);
    }
  }
}

void ShardContext::wake_all() const {
  uint64_t one = 1;
  for (int fd : wake_fds) {
    ssize_t rc = write(fd, &one, sizeof(one));  // control thread: a plain syscall is fine
    (void)rc;
  }
}

void Shard::arm_wake() {
  if (id_ >= ctx_->wake_fds.size()) {
    return;
  }
  io_uring_sqe* s = ring_.sqe();
  io_uring_prep_read(s, ctx_->wake_fds[id_], &wake_value_, sizeof(wake_value_), 0);
  io_uring_sqe_set_data64(s, core::encode(Op::kWake, 0, 0));
}

void Shard::run() noexcept {
  current_ = ctx_->rcu->current();
  arm_wake();
  for (uint32_t i = 0; i < listen_fds_.size(); ++i) {
    arm_accept(i);
  }
  for (;;) {
    quiescent_point();
    if (ctx_->draining.load(std::memory_order_acquire) && !draining_) {
      start_drain();
    }
    if (draining_ && drained()) {
      break;
    }
    uint64_t wait = timers_.next_timeout_ms(now_ms_, kMaxWaitMs);
    ring_.submit_and_wait_batch(wait, batch_, kBatchWaitUs);
    now_ms_ = clock_.now_ms();
    accepted_ = 0;
    unsigned reaped = reap();
    batch_ = accepted_ > 0 ? std::clamp(reaped, 1u, kMaxBatch) : 1;
    timers_.expire(now_ms_, [this](core::TimerNode* n) { on_timer(n); });
    if (fd_freed_) {
      fd_freed_ = false;
      resume_paused_accepts();
    }
    rearm_starved();
    bufs_.flush();
    up_bufs_.flush();
  }
  ctx_->rcu->report(id_, RcuDomain<Snapshot>::kNone);
  RW_DEBUG("shard %u stopped", id_);
}

// The RCU quiescent point: nothing from a previous turn is referenced except the
// snapshots in held_, so the oldest generation in use is reported.
void Shard::quiescent_point() {
  current_ = ctx_->rcu->current();
  uint64_t oldest = current_->generation;
  for (const auto& h : held_) {
    oldest = std::min(oldest, h.first->generation);
  }
  ctx_->rcu->report(id_, oldest);
}

const Snapshot* Shard::hold_snapshot() {
  for (auto& h : held_) {
    if (h.first == current_) {
      ++h.second;
      return current_;
    }
  }
  held_.emplace_back(current_, 1);
  return current_;
}

void Shard::release_snapshot(const Snapshot* s) {
  for (size_t i = 0; i < held_.size(); ++i) {
    if (held_[i].first == s && --held_[i].second == 0) {
      held_[i] = held_.back();
      held_.pop_back();
      return;
    }
  }
}

unsigned Shard::reap() {
  io_uring* r = ring_.raw();
  io_uring_cqe* cqe;
  unsigned head;
  unsigned seen = 0;
  io_uring_for_each_cqe(r, head, cqe) {
    dispatch(cqe->user_data, cqe->res, cqe->flags);
    ++seen;
  }
  io_uring_cq_advance(r, seen);
  return seen;
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
    case Op::kFixFile:
      // A failed fix leaves the slot empty: the fd's ops then fail with -EBADF and the
      // connection closes. -ECANCELED: an unfix in a close chain whose send failed.
      if (res != -ECANCELED) {
        RW_WARN("shard %u: fixed-file slot %u: %s", id_, slot, strerror(-res));
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
      ClientConn* c = clients_.get(slot);
      if (c == nullptr || clients_.gen(slot) != gen) {
        take_received(bufs_, nullptr, res, flags);  // recycled slot: drop, but keep the buffer
        return;
      }
      --c->inflight;
      if (op == Op::kClientRecv) {
        on_client_recv(*c, res, flags);
      } else {
        on_client_sent(*c, res);
      }
      client_maybe_free(*c);
      return;
    }
    case Op::kUpConnect:
    case Op::kUpSend:
    case Op::kUpRecv: {
      UpstreamConn* u = upstreams_.get(slot);
      if (u == nullptr || upstreams_.gen(slot) != gen) {
        take_received(up_bufs_, nullptr, res, flags);
        return;
      }
      --u->inflight;
      uint32_t lender = return_lent(*u, op);
      if (op == Op::kUpConnect) {
        on_upstream_connect(*u, res);
      } else if (op == Op::kUpSend) {
        on_upstream_sent(*u, res);
      } else {
        on_upstream_recv(*u, res, flags);
      }
      upstream_maybe_free(*u);
      if (lender != kNoSlot) {
        client_maybe_free(clients_[lender]);  // its last lent buffer may have come back
      }
      return;
    }
  }
}

void Shard::arm_accept(uint32_t listener) {
  AcceptState& a = accepts_[listener];
  if (draining_ || a.armed || a.retry.armed()) {
    return;
  }
  io_uring_sqe* s = ring_.sqe();
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
      RW_WARN("shard %u: accept: %s", id_, strerror(-res));
    }
    arm_accept(listener);
  }
  if (res < 0) {
    return;
  }
  accepts_[listener].backoff.succeeded();
  ++accepted_;
  if (draining_ || ctx_->connections() >= current_->c().config.limits.max_connections) {
    close_fd(res, Op::kIgnore, false, false);  // over max_connections: closed at once
    return;
  }
  client_open(res, listener);
}

// Stops accepting on `listener` for the backoff's pause; the connections it has are served
// meanwhile, and new ones wait in the listen backlog. Reported at most once per interval.
void Shard::pause_accept(uint32_t listener, int err) {
  AcceptState& a = accepts_[listener];
  AcceptBackoff::Pause p = a.backoff.failed(now_ms_);
  if (p.report > 0) {
    RW_WARN(
        "shard %u: listener %s: accept paused: %s (%llu failures since last report), "
        "retrying in %u ms",
        id_, current_->c().config.listeners[listener].name.c_str(), strerror(err),
        static_cast<unsigned long long>(p.report), p.ms);
  }
  if (draining_) {
    return;
  }
  timers_.arm(&a.retry, now_ms_ + p.ms);
}

// An fd was closed in this turn: a paused listener may find it free. The retry runs at
// the next expiry, behind the submit that carries the close. A retry that fails again
// pauses for the next, longer step.
void Shard::resume_paused_accepts() {
  for (AcceptState& a : accepts_) {
    if (a.retry.armed() && a.retry.deadline_ms > now_ms_) {
      timers_.arm(&a.retry, now_ms_);
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
    UpstreamConn* u = upstreams_.get(node->owner);
    if (u != nullptr && u->state == UpstreamState::kIdle) {
      upstream_close(*u);
      upstream_maybe_free(*u);
    }
    return;
  }
  ClientConn* c = clients_.get(node->owner);
  if (c != nullptr && c->state != ClientState::kClosing) {
    on_client_timer(*c, kind);
    client_maybe_free(*c);
  }
}

void Shard::start_drain() {
  draining_ = true;
  for (AcceptState& a : accepts_) {
    core::TimerWheel::disarm(&a.retry);  // a paused listener is closed like the others
  }
  // Closing the listeners (after cancelling their accepts) makes new connections fail.
  for (int& fd : listen_fds_) {
    close_fd(fd, Op::kListenClosed);
    fd = -1;
  }
  for (uint32_t i = 0; i < clients_.capacity(); ++i) {
    ClientConn* c = clients_.get(i);
    if (c == nullptr || c->fd < 0 || c->state == ClientState::kClosing) {
      continue;
    }
    if (c->state == ClientState::kIdle) {
      client_close(*c);
      client_maybe_free(*c);
    } else {
      c->keep_alive = false;  // finish this exchange, then close
    }
  }
  for (auto& [key, pool] : idle_) {
    while (pool.head != nullptr) {
      UpstreamConn* u = pool.head;
      upstream_close(*u);  // unlinks from the pool
      upstream_maybe_free(*u);
    }
  }
}

bool Shard::drained() const {
  if (ctx_->force_stop.load(std::memory_order_acquire)) {
    return true;
  }
  // Listeners must really be closed before the thread ends: an unsubmitted close would
  // leave the socket accepting into a backlog nobody serves until the process exits.
  return client_count_ == 0 && upstreams_.in_use() == 0 && listeners_open_ == 0;
}

void Shard::rearm_starved() {
  // Buffers came back during this batch: receives that found none try again.
  std::vector<uint32_t> clients;
  clients.swap(starved_clients_);
  for (uint32_t slot : clients) {
    ClientConn* c = clients_.get(slot);
    if (c != nullptr && c->state != ClientState::kClosing) {
      client_recv(*c);
    }
  }
  std::vector<uint32_t> ups;
  ups.swap(starved_upstreams_);
  for (uint32_t slot : ups) {
    UpstreamConn* u = upstreams_.get(slot);
    if (u != nullptr && u->state != UpstreamState::kClosing) {
      upstream_recv(*u);
    }
  }
}

// Queues a cancel of every op pending on `fd`; its completion is ignored.
io_uring_sqe* Shard::cancel_fd(int fd) {
  io_uring_sqe* s = ring_.sqe();
  io_uring_prep_cancel_fd(s, fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(s, core::encode(Op::kIgnore, 0, 0));
  return s;
}

// Cancels whatever is pending on `fd` (when `busy`), clears its fixed-file slot, then
// closes it. Hard-linked so the close runs even when there was nothing to cancel; the
// completions are ignored. A cancel by fd finds ops issued on its fixed slot too (same
// file); it is skipped when nothing is pending, since it walks every pending poll of the ring.
void Shard::close_fd(int fd, Op close_op, bool fixed, bool busy) {
  fd_freed_ = true;
  ring_.reserve(1 + (fixed ? 1 : 0) + (busy ? 1 : 0));
  if (busy) {
    cancel_fd(fd)->flags |= IOSQE_IO_HARDLINK;
  }
  if (fixed) {
    ring_.unfix(fd)->flags |= IOSQE_IO_HARDLINK;
  }
  io_uring_sqe* c = ring_.sqe();
  io_uring_prep_close(c, fd);
  io_uring_sqe_set_data64(c, core::encode(close_op, 0, 0));
}

namespace {
// A parser from the shard's free list, set to `limits` (a reused one may come from an
// exchange of an older configuration); a new one only while the list has never been this
// deep (parsers are returned, not freed).
template <class Parser>
Parser* take_parser(std::vector<std::unique_ptr<Parser>>& free, const http::ParserLimits& limits,
                    http::BodySink sink) {
  if (free.empty()) {
    return new Parser(limits, sink);
  }
  Parser* p = free.back().release();
  free.pop_back();
  p->set_limits(limits);
  return p;
}
}  // namespace

http::RequestParser* Shard::take_req_parser() {
  return take_parser(req_parsers_, current_->c().parser_limits,
                     http::BodySink{this, &Shard::on_req_body});
}

http::ResponseParser* Shard::take_resp_parser(const ClientConn& c) {
  return take_parser(resp_parsers_, c.snap->c().parser_limits,
                     http::BodySink{this, &Shard::on_resp_body});
}

void Shard::give_parsers(ClientConn& c) {
  if (c.req_parser != nullptr) {
    req_parsers_.emplace_back(c.req_parser);
    c.req_parser = nullptr;
  }
  if (c.resp_parser != nullptr) {
    resp_parsers_.emplace_back(c.resp_parser);
    c.resp_parser = nullptr;
  }
}

}  // namespace ringway::proxy
