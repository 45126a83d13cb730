// The shared part of a shard (shard_core.h): buffers and rings set up once, receive
// helpers, fd close chains, parser free lists and snapshot holds.
#include "proxy/shard_core.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/user_data.h"
#include "ringway/log.h"

namespace ringway::proxy {

using core::Op;

namespace {
constexpr uint32_t kRingEntries = 2048;
constexpr uint32_t kRecvBufs = 1024;
// Buffers each ring starts with out; -ENOBUFS doubles them (BufRing::grow), so a shard
// touches only as many receive buffers as its load needed at once.
constexpr uint32_t kRecvBufsFirst = 32;
constexpr uint32_t kUpRecvBufsFirst = 16;
constexpr uint32_t kMaxUpstreamsPerShard = 65536;
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

void ShardContext::wake_all() const {
  uint64_t one = 1;
  for (int fd : wake_fds) {
    ssize_t rc = write(fd, &one, sizeof(one));  // control thread: a plain syscall is fine
    (void)rc;
  }
}

ShardCore::ShardCore(uint32_t id, ShardContext* ctx, uint64_t now_ms)
    : id_(id),
      ctx_(ctx),
      now_ms_(now_ms),
      alog_(id, ctx),
      ring_(kRingEntries),
      bufs_(ring_, 0, kRecvBufs, kRecvBufSize, 0, kRecvBufsFirst),
      up_bufs_(ring_, 1, kUpRecvBufs, kUpRecvBufSize, kUpHeadroom, kUpRecvBufsFirst),
      lead_msgs_(kUpRecvBufs),
      timers_(now_ms_),
      clients_(std::max<uint32_t>(ctx->max_connections, 1)),
      upstreams_(kMaxUpstreamsPerShard),
      scratch_(65536) {
  ring_.register_fd_table(kFixedFileSlots);
  if (getrandom(nonce_state_, sizeof(nonce_state_), 0) !=
      static_cast<ssize_t>(sizeof(nonce_state_))) {
    nonce_state_[0] = now_ms * 0x9e3779b97f4a7c15ull ^ id;  // start-up only; unique enough
    nonce_state_[1] = reinterpret_cast<uintptr_t>(this);
  }
}

// A forced stop leaves connections open: give their memory back (fds die with the
// process; the ring is torn down after this body, cancelling what is pending).
ShardCore::~ShardCore() {
  for (uint32_t i = 0; i < clients_.capacity(); ++i) {
    ClientConn* c = clients_.get(i);
    if (c != nullptr) {
      give_parsers(*c);
      give_auth_hold(*c);
      give_tls(c->io);
      pool_.put(c->in);
      pool_.put(c->out);
      pool_.put(c->x.up_out);
    }
  }
  for (uint32_t i = 0; i < upstreams_.capacity(); ++i) {
    UpstreamConn* u = upstreams_.get(i);
    if (u != nullptr) {
      give_tls(u->io);
      pool_.put(u->in);
    }
  }
}

const Snapshot* ShardCore::hold_snapshot() {
  for (auto& h : held_) {
    if (h.first == current_) {
      ++h.second;
      return current_;
    }
  }
  held_.emplace_back(current_, 1);
  return current_;
}

void ShardCore::release_snapshot(const Snapshot* s) {
  for (size_t i = 0; i < held_.size(); ++i) {
    if (held_[i].first == s && --held_[i].second == 0) {
      held_[i] = held_.back();
      held_.pop_back();
      return;
    }
  }
}

// Queues a cancel of every op pending on `fd`; its completion is ignored.
io_uring_sqe* ShardCore::cancel_fd(int fd) {
  io_uring_sqe* s = ring_.sqe();
  io_uring_prep_cancel_fd(s, fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(s, core::encode(Op::kIgnore, 0, 0));
  return s;
}

// Queues a cancel of the one op issued with `user_data` (a hash lookup, not a walk over
// every pending poll as a cancel by fd is); its completion is ignored.
io_uring_sqe* ShardCore::cancel_ud(uint64_t user_data) {
  io_uring_sqe* s = ring_.sqe();
  io_uring_prep_cancel64(s, user_data, 0);
  io_uring_sqe_set_data64(s, core::encode(Op::kIgnore, 0, 0));
  return s;
}

// Cancels whatever is pending on `fd` (when `busy`), clears its fixed-file slot, then
// closes it. Hard-linked so the close runs even when there was nothing to cancel; the
// completions are ignored. A cancel by fd finds ops issued on its fixed slot too (same
// file); it is skipped when nothing is pending, since it walks every pending poll of the ring.
void ShardCore::close_fd(int fd, Op close_op, bool fixed, bool busy, uint64_t only) {
  fd_freed_ = true;
  ring_.reserve(1 + (fixed ? 1 : 0) + (busy ? 1 : 0));
  if (busy && only != 0) {
    cancel_ud(only)->flags |= IOSQE_IO_HARDLINK;
  } else if (busy) {
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
// exchange of an older configuration); a new one only while the list is empty (parsers are
// returned, and freed by trim_idle once unused for a trim interval). `low`: the list's
// low-water mark since the last trim.
template <class Parser>
Parser* take_parser(std::vector<std::unique_ptr<Parser>>& free, size_t& low,
                    const http::ParserLimits& limits, http::BodySink sink) {
  if (free.empty()) {
    low = 0;
    return new Parser(limits, sink);
  }
  Parser* p = free.back().release();
  free.pop_back();
  low = std::min(low, free.size());
  p->set_limits(limits);
  return p;
}

// Frees the `low` parsers no take_parser needed since the last trim; returns how many.
template <class Parser>
size_t trim_parsers(std::vector<std::unique_ptr<Parser>>& free, size_t& low) {
  size_t n = std::min(low, free.size());
  free.erase(free.begin(), free.begin() + static_cast<std::ptrdiff_t>(n));
  low = free.size();
  return n;
}
}  // namespace

// mimalloc's, when ringway is linked with it (weak: null without it, e.g. under ASan).
extern "C" void mi_collect(bool force) __attribute__((weak));

http::RequestParser* ShardCore::take_req_parser() {
  return take_parser(req_parsers_, req_parsers_low_, current_->c().parser_limits, req_sink);
}

http::ResponseParser* ShardCore::take_resp_parser(const ClientConn& c) {
  return take_parser(resp_parsers_, resp_parsers_low_, c.x.snap->c().parser_limits, resp_sink);
}

// Issue 19: after 10,000 idle and 1,000 slowloris clients had come and gone, RSS stayed
// ~18 MiB above its start: every ClientConn (~1 KiB) and request parser of the burst was kept
// for reuse, forever. What a whole trim interval did not need is freed now; a steady load
// keeps its objects (they are reused within the interval).
void ShardCore::trim_idle() {
  // A released client holds no timer (client_close disarms it); checked, as a freed object
  // left in the timer wheel would be a use after free.
  size_t freed = clients_.trim([](const ClientConn& c) { return !c.timer.armed(); });
  freed += trim_parsers(req_parsers_, req_parsers_low_);
  freed += trim_parsers(resp_parsers_, resp_parsers_low_);
  // mimalloc returns the pages of freed objects to the OS lazily, from later allocations of
  // the same thread: a shard that went quiet after a burst would keep them longer. Only
  // after a burst: the churn of a steady load frees a few objects now and then.
  if (freed >= 64) {
    RW_DEBUG("shard %u: freed %zu idle client objects and parsers", id_, freed);
    if (mi_collect != nullptr) {
      mi_collect(false);
    }
  }
}

void ShardCore::give_parsers(ClientConn& c) {
  if (c.req_parser != nullptr) {
    req_parsers_.emplace_back(c.req_parser);
    c.req_parser = nullptr;
  }
  if (c.resp_parser != nullptr) {
    resp_parsers_.emplace_back(c.resp_parser);
    c.resp_parser = nullptr;
  }
}

// Queues one receive on `fd` into a provided buffer of `ring`, for at most what `buf` can
// take (after compacting it, when allowed) and never less than kRecvBufSize. Returns the
// length asked for; 0 under back-pressure: the owner re-arms once its bytes were consumed.
// `poll_first`: no data is expected yet (IORING_RECVSEND_POLL_FIRST).
uint32_t ShardCore::arm_recv(const transport::Stream& st, int fd, bool fixed, core::IoBuf& buf,
                             core::BufRing& ring, bool may_compact, bool poll_first,
                             uint64_t user_data) {
  uint32_t len = ring.buf_size();
  if (buf.allocated()) {
    if (buf.room() < len && may_compact) {
      buf.compact();
    }
    len = std::min(len, buf.room());
    if (len < kRecvBufSize) {
      return 0;
    }
  }
  io_uring_sqe* s = ring_.sqe();
  transport::prep_recv(s, st, fd, fixed, len, ring.group(), poll_first);
  io_uring_sqe_set_data64(s, user_data);
  return len;
}

void ShardCore::arm_multishot(const transport::Stream& st, int fd, bool fixed, core::BufRing& ring,
                              uint64_t user_data) {
  io_uring_sqe* s = ring_.sqe();
  transport::prep_recv_multishot(s, st, fd, fixed, ring.group());
  io_uring_sqe_set_data64(s, user_data);
}

void ShardCore::stop_multishot(MultishotRx& rx, uint64_t user_data) {
  if (rx.stopping) {
    return;
  }
  cancel_ud(user_data);
  rx.stopping = true;
}

namespace {
// Room for `len` more bytes in `into` (a pooled buffer of at least `cap` given if it has
// none), compacting it first when allowed.
bool make_room(core::BufPool& pool, core::IoBuf& into, uint32_t len, uint32_t cap,
               bool may_compact) {
  pool.get(into, cap);
  if (into.room() < len && may_compact) {
    into.compact();
  }
  return into.room() >= len;
}
}  // namespace

bool ShardCore::take_or_hold(MultishotRx& rx, core::BufRing& ring, core::IoBuf& into, int res,
                             uint32_t flags, bool may_compact) {
  auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
  auto len = static_cast<uint32_t>(res);
  uint32_t cap = std::max(current_->c().head_buf_size, ring.buf_size());
  if (rx.held.empty() && make_room(pool_, into, len, cap, may_compact)) {
    std::memcpy(into.data + into.tail, ring.buf(bid), len);
    into.tail += len;
    ring.recycle(bid);
    return true;
  }
  ring.hold(rx.held, bid, len);
  return false;
}

uint32_t ShardCore::take_held(MultishotRx& rx, core::BufRing& ring, core::IoBuf& into,
                              bool may_compact) {
  uint32_t cap = std::max(current_->c().head_buf_size, ring.buf_size());
  make_room(pool_, into, ring.buf_size(), cap, may_compact);
  uint32_t n = ring.take(rx.held, into.data + into.tail, into.room());
  into.tail += n;
  if (into.empty()) {
    pool_.put(into);  // nothing was taken: an idle connection keeps no buffer
  }
  return n;
}

// Moves a receive's bytes from its provided buffer of `ring` into `into` (null: dropped)
// and gives the buffer back. arm_recv guaranteed the room.
void ShardCore::take_received(core::BufRing& ring, core::IoBuf* into, int res, uint32_t flags) {
  if (!(flags & IORING_CQE_F_BUFFER)) {
    return;
  }
  auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
  if (res > 0 && into != nullptr) {
    append_received(*into, ring.buf(bid), static_cast<uint32_t>(res), ring.buf_size());
  }
  ring.recycle(bid);
}

// Appends received bytes to `into`, which gets a pooled buffer of at least `cap` (and a
// head buffer) if it has none.
void ShardCore::append_received(core::IoBuf& into, const char* data, uint32_t len, uint32_t cap) {
  pool_.get(into, std::max(current_->c().head_buf_size, cap));
  if (into.room() < len) {
    into.compact();
  }
  std::memcpy(into.data + into.tail, data, len);
  into.tail += len;
}

AuthHold* ShardCore::take_auth_hold() {
  if (auth_holds_.empty()) {
    return new AuthHold();  // pooled from then on (a shard keeps what it once needed)
  }
  AuthHold* h = auth_holds_.back().release();
  auth_holds_.pop_back();
  return h;
}

tls::Stream* ShardCore::take_tls() {
  if (tls_free_.empty()) {
    return new tls::Stream(pool_);  // pooled from then on
  }
  tls::Stream* s = tls_free_.back().release();
  tls_free_.pop_back();
  return s;
}

void ShardCore::give_tls(transport::Stream& io) {
  if (io.tls != nullptr) {
    io.tls->reset();
    tls_free_.emplace_back(io.tls);
  }
  io.tls = nullptr;
  io.kind = transport::Kind::kPlain;
}

void ShardCore::give_auth_hold(ClientConn& c) {
  if (c.x.auth == nullptr) {
    return;
  }
  held_body_bytes_ -= c.x.auth->held;
  c.x.auth->held = 0;
  auth_holds_.emplace_back(c.x.auth);
  c.x.auth = nullptr;
}

}  // namespace ringway::proxy
