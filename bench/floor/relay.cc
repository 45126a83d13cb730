#include "relay.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace ringway::floor {
namespace {

constexpr uint32_t kRingEntries = 4096;  // SQ entries; core::Ring makes the CQ 4x larger
constexpr uint16_t kBufGroup = 0;
constexpr uint32_t kBufCount = 1024;  // shared by all receives (power of two)
constexpr uint32_t kBufSize = 16384;
// Buffers out at first; each -ENOBUFS allows one more (core::BufRing::grow). Recycled
// buffers are posted again most recent first, so a light load circles a few warm buffers
// instead of cycling through all 16 MiB (ringway's shards do the same).
constexpr uint32_t kBufFirst = 32;
// A flow holding this many buffers unsent pauses its receive (so one fast sender facing a
// slow receiver cannot take every buffer); it resumes once the queue is down to kLowWater.
constexpr uint16_t kHighWater = 16;
constexpr uint16_t kLowWater = 4;
constexpr uint32_t kMaxConnecting = 256;  // backend connects in flight at once
constexpr long long kConnectTimeoutNs = 2'000'000'000;
constexpr long long kBackoffNs = 100'000'000;

// user_data: op (4 bits) | generation (20) | slot (24) | buffer id (16). Only these helpers
// know the layout. A completion whose generation is not its slot's current one belongs to
// a pair that was closed (the slot may hold a new pair by now) and is dropped; the buffer
// id rides along so that a dropped send still returns its buffer.
enum Op : uint64_t {
  kIgnore = 0,  // shutdown, close, cancel, link timeout: nothing to do on completion
  kAccept,
  kConnect,
  kTimer,
  kSignal,
  kRecv0,  // receive on the client socket (flow 0); kRecv0 + 1: on the backend socket
  kRecv1,
  kSend0,  // send of flow 0 (to the backend); kSend0 + 1: flow 1, to the client
  kSend1,
};
constexpr uint64_t kGenBits = 20;
constexpr uint64_t kGenMask = (1u << kGenBits) - 1;
constexpr uint32_t kMaxSlots = (1u << 24) - 1;

constexpr uint64_t Encode(uint64_t op, uint32_t slot, uint32_t gen, uint16_t bid = 0) {
  return (op << 60) | ((gen & kGenMask) << 40) | (static_cast<uint64_t>(slot) << 16) | bid;
}
constexpr uint64_t OpOf(uint64_t ud) { return ud >> 60; }
constexpr uint32_t GenOf(uint64_t ud) { return static_cast<uint32_t>((ud >> 40) & kGenMask); }
constexpr uint32_t SlotOf(uint64_t ud) { return static_cast<uint32_t>(ud >> 16) & kMaxSlots; }
constexpr uint16_t BidOf(uint64_t ud) { return static_cast<uint16_t>(ud); }

__kernel_timespec Ns(long long ns) {
  __kernel_timespec ts{};
  ts.tv_sec = ns / 1'000'000'000;
  ts.tv_nsec = ns % 1'000'000'000;
  return ts;
}

// Small responses must not wait for Nagle (a relay writes what it gets, when it gets it).
void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

Relay::Relay(const RelayConfig& config)
    : config_(config),
      slots_(config.max_conns + config.spare),
      pairs_(slots_),
      waiting_(config.max_conns, -1),
      next_(kBufCount, kNoBuf),
      len_(kBufCount, 0),
      connect_ts_(Ns(kConnectTimeoutNs)),
      backoff_ts_(Ns(kBackoffNs)) {
  if (slots_ > kMaxSlots) {
    throw std::runtime_error("too many connections for the user_data slot field");
  }
  ring_ = std::make_unique<core::Ring>(kRingEntries);
  bufs_ = std::make_unique<core::BufRing>(*ring_, kBufGroup, kBufCount, kBufSize, 0, kBufFirst);
  // Fixed files spare every operation the file lookup and reference count (ringway does
  // the same); when the kernel refuses, fix() fixes nothing and plain fds are used.
  ring_->register_fd_table(2 * slots_ + 128);
  free_.reserve(slots_);
  for (uint32_t i = slots_; i > 0; --i) {
    free_.push_back(i - 1);
  }
  pool_.reserve(slots_);
  rearm_.reserve(2 * static_cast<size_t>(slots_) + 64);
}

Relay::~Relay() {
  for (Pair& p : pairs_) {
    for (int fd : p.fd) {
      if (fd >= 0) {
        close(fd);
      }
    }
  }
  for (uint32_t i = 0; i < waiting_count_; ++i) {
    close(waiting_[(waiting_head_ + i) % waiting_.size()]);
  }
  bufs_.reset();  // unregisters from the ring: before the ring goes
  ring_.reset();  // cancels what is still in flight (connecting sockets are closed by exit)
  close(config_.listen_fd);
}

// The wait has no timeout: a stop request arrives as a completion (the signalfd read),
// and a timer would cost an hrtimer set-up and cancel on every wait.
void Relay::run() noexcept {
  arm_accept();
  arm_signal();
  refill();
  while (!stop_) {
    io_uring_submit_and_wait(ring_->raw(), 1);  // -EINTR and the like: just reap and loop
    reap();
    after_batch();
  }
}

// Every ready completion, then one advance (the batch retires together).
void Relay::reap() {
  ring_->reap([this](uint64_t ud, int res, uint32_t flags) { dispatch(ud, res, flags); });
}

void Relay::dispatch(uint64_t ud, int res, uint32_t flags) {
  const uint64_t op = OpOf(ud);
  const uint32_t slot = SlotOf(ud);
  if (op >= kRecv0 && (pairs_[slot].gen & kGenMask) != GenOf(ud)) {
    // A late completion of a closed pair: only its buffer matters.
    if (op <= kRecv1 && (flags & IORING_CQE_F_BUFFER) != 0) {
      ++held_;
      recycle(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT));
    } else if (op >= kSend0) {
      recycle(BidOf(ud));  // close_pair left the buffer of an in-flight send to this CQE
    }
    return;
  }
  switch (op) {
    case kAccept:
      on_accept(res, flags);
      break;
    case kConnect:
      on_connect(slot, res);
      break;
    case kTimer:
      on_timer();
      break;
    case kSignal:
      if (res > 0) {
        stop_ = true;
      } else {
        arm_signal();
      }
      break;
    case kRecv0:
    case kRecv1:
      on_recv(slot, static_cast<int>(op - kRecv0), res, flags);
      break;
    case kSend0:
    case kSend1:
      on_send(slot, static_cast<int>(op - kSend0), BidOf(ud), res);
      break;
    default:
      break;
  }
}

// Buffers returned during the batch (and one more per starved receive: grow()) become
// visible to the kernel here, and only then can a receive that ran dry (-ENOBUFS) be
// re-armed: re-arming on an empty buffer ring fails at once, which would spin.
void Relay::after_batch() {
  bufs_->flush();
  if (!accept_armed_) {
    arm_accept();
  }
  if (rearm_.empty() || held_ >= bufs_->depth()) {
    return;
  }
  for (const Rearm& r : rearm_) {
    if ((pairs_[r.slot].gen & kGenMask) == (r.gen & kGenMask)) {
      maybe_arm(r.slot, r.dir);
    }
  }
  rearm_.clear();
}

void Relay::arm_accept() {
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_multishot_accept(s, config_.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, Encode(kAccept, 0, 0));
  accept_armed_ = true;
}

void Relay::arm_signal() {
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_read(s, config_.signal_fd, &siginfo_, sizeof(siginfo_), 0);
  io_uring_sqe_set_data64(s, Encode(kSignal, 0, 0));
}

// A client beyond --max-conns is accepted and closed at once; otherwise it takes a pooled
// backend connection, or waits in waiting_ for the next connect to complete.
void Relay::on_accept(int res, uint32_t flags) {
  if ((flags & IORING_CQE_F_MORE) == 0) {
    accept_armed_ = false;  // re-armed after the batch
  }
  if (res < 0) {
    return;
  }
  if (clients_ >= config_.max_conns) {
    queue_close(res, false);
    ++counters_.refused;
    return;
  }
  ++clients_;
  ++counters_.clients;
  NoDelay(res);
  if (!pool_.empty()) {
    const uint32_t slot = pool_.back();
    pool_remove(slot);
    attach(slot, res);
  } else {
    waiting_[(waiting_head_ + waiting_count_) % waiting_.size()] = res;
    ++waiting_count_;
  }
  refill();
}

// Keeps `spare` backend connections ready or on their way, plus one per waiting client.
void Relay::refill() {
  const uint64_t want = static_cast<uint64_t>(config_.spare) + waiting_count_;
  while (!backoff_ && !free_.empty() && connecting_ < kMaxConnecting &&
         pool_.size() + connecting_ < want) {
    start_connect();
  }
}

// socket() is a plain system call; the connect goes through the ring, bounded by a linked
// timeout (a backend whose backlog is full would otherwise hold it for minutes).
void Relay::start_connect() {
  const int fd = socket(config_.backend.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    on_connect_failed(kMaxSlots, -errno);
    return;
  }
  NoDelay(fd);
  const uint32_t slot = free_.back();
  free_.pop_back();
  Pair& p = pairs_[slot];
  p.state = PairState::kConnecting;
  p.fd[1] = fd;
  p.fixed[1] = ring_->fix(fd);
  ++connecting_;
  ring_->reserve(2);
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_connect(s, fd, reinterpret_cast<const sockaddr*>(&config_.backend),
                        config_.backend_len);
  core::Ring::use_fixed(s, p.fixed[1]);
  io_uring_sqe_set_data64(s, Encode(kConnect, slot, p.gen));
  s->flags |= IOSQE_IO_LINK;
  io_uring_sqe* t = ring_->sqe();
  io_uring_prep_link_timeout(t, &connect_ts_, 0);
  io_uring_sqe_set_data64(t, Encode(kIgnore, 0, 0));
}

// A new backend connection serves the oldest waiting client, else joins the pool. Its
// receive is armed either way: a pooled connection that the backend closes is noticed
// (and replaced) before a client is handed a dead one.
void Relay::on_connect(uint32_t slot, int res) {
  --connecting_;
  if (res < 0) {
    on_connect_failed(slot, res);
    return;
  }
  backend_down_ = false;
  Pair& p = pairs_[slot];
  arm_recv(slot, 1);
  if (waiting_count_ > 0) {
    const int client = waiting_[waiting_head_];
    waiting_head_ = (waiting_head_ + 1) % static_cast<uint32_t>(waiting_.size());
    --waiting_count_;
    attach(slot, client);
  } else {
    p.state = PairState::kPooled;
    p.pool_pos = static_cast<uint32_t>(pool_.size());
    pool_.push_back(slot);
  }
  refill();
}

// Each failed connect fails the oldest waiting client (so a client waits for at most one
// connect attempt after the queue ahead of it), and connecting pauses for kBackoffNs:
// a backend that is down costs one attempt per interval, not a busy loop.
void Relay::on_connect_failed(uint32_t slot, int res) {
  if (slot != kMaxSlots) {
    Pair& p = pairs_[slot];
    queue_close(p.fd[1], p.fixed[1]);  // through the ring: its fixed slot goes too
    p = Pair{.gen = p.gen + 1};
    free_.push_back(slot);
  }
  ++counters_.connect_fail;
  if (!backend_down_) {
    fprintf(stderr, "ringway-floor: backend connect failed: %s\n", strerror(-res));
    backend_down_ = true;
  }
  if (waiting_count_ > 0) {
    close_now(waiting_[waiting_head_]);
    waiting_head_ = (waiting_head_ + 1) % static_cast<uint32_t>(waiting_.size());
    --waiting_count_;
    --clients_;
  }
  if (!backoff_) {
    backoff_ = true;
    io_uring_sqe* s = ring_->sqe();
    io_uring_prep_timeout(s, &backoff_ts_, 0, 0);
    io_uring_sqe_set_data64(s, Encode(kTimer, 0, 0));
  }
}

void Relay::on_timer() {
  backoff_ = false;
  refill();
}

// Pairs a client with a connected backend: both flows start. Bytes the backend sent
// while pooled (a server that speaks first) go out to the client now.
void Relay::attach(uint32_t slot, int client_fd) {
  Pair& p = pairs_[slot];
  p.state = PairState::kPaired;
  p.fd[0] = client_fd;
  p.fixed[0] = ring_->fix(client_fd);
  arm_recv(slot, 0);
  if (p.flow[1].queued > 0 && !p.flow[1].sending) {
    send_head(slot, 1);
  }
}

void Relay::arm_recv(uint32_t slot, int dir) {
  Pair& p = pairs_[slot];
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_recv_multishot(s, p.fd[dir], nullptr, 0, 0);
  core::Ring::use_fixed(s, p.fixed[dir]);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kBufGroup;
  io_uring_sqe_set_data64(s, Encode(kRecv0 + static_cast<uint64_t>(dir), slot, p.gen));
  p.flow[dir].recv = RecvState::kArmed;
}

void Relay::on_recv(uint32_t slot, int dir, int res, uint32_t flags) {
  if ((flags & IORING_CQE_F_BUFFER) != 0) {
    ++held_;
    const auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    if (res > 0) {
      enqueue(slot, dir, bid, static_cast<uint32_t>(res));
      counters_.bytes[dir] += static_cast<uint32_t>(res);
    } else {
      recycle(bid);
    }
  }
  if ((flags & IORING_CQE_F_MORE) == 0) {
    on_recv_end(slot, dir, res);
  }
}

// The multishot receive has ended (no IORING_CQE_F_MORE). -ENOBUFS: the buffer ring ran
// dry, re-armed after the batch once buffers are back; -ECANCELED (our pause) or data:
// re-armed unless paused; 0 or an error: this side is done, flush its queue and close.
void Relay::on_recv_end(uint32_t slot, int dir, int res) {
  Pair& p = pairs_[slot];
  Flow& f = p.flow[dir];
  f.recv = RecvState::kIdle;
  if (res == -ENOBUFS) {
    rearm_.push_back(Rearm{slot, p.gen, static_cast<uint8_t>(dir)});
    bufs_->grow();
    ++counters_.out_of_bufs;
    return;
  }
  if (res > 0 || res == -ECANCELED || res == -EINTR) {
    maybe_arm(slot, dir);
    return;
  }
  f.eof = true;
  if (p.state != PairState::kPaired || (f.queued == 0 && !f.sending)) {
    close_pair(slot);
  }
}

// Appends a filled buffer to the flow's queue and starts sending if nothing is in flight.
void Relay::enqueue(uint32_t slot, int dir, uint16_t bid, uint32_t len) {
  Pair& p = pairs_[slot];
  Flow& f = p.flow[dir];
  len_[bid] = len;
  next_[bid] = kNoBuf;
  if (f.tail == kNoBuf) {
    f.head = bid;
  } else {
    next_[f.tail] = bid;
  }
  f.tail = bid;
  ++f.queued;
  if (p.state == PairState::kPaired && !f.sending) {
    send_head(slot, dir);
  }
  if (f.queued >= kHighWater && f.recv == RecvState::kArmed) {
    pause_recv(slot, dir);
  }
}

// Cancels the multishot receive; its last CQE (-ECANCELED, or data that raced the cancel)
// arrives later, and on_send re-arms it once the queue has drained to kLowWater.
void Relay::pause_recv(uint32_t slot, int dir) {
  Pair& p = pairs_[slot];
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_cancel64(s, Encode(kRecv0 + static_cast<uint64_t>(dir), slot, p.gen), 0);
  io_uring_sqe_set_data64(s, Encode(kIgnore, 0, 0));
  p.flow[dir].recv = RecvState::kCanceling;
  ++counters_.pauses;
}

// Arms the receive of a flow that wants more bytes: open, not at EOF, queue not full.
void Relay::maybe_arm(uint32_t slot, int dir) {
  const Pair& p = pairs_[slot];
  const Flow& f = p.flow[dir];
  if (p.fd[dir] >= 0 && f.recv == RecvState::kIdle && !f.eof && f.queued < kHighWater &&
      (p.state == PairState::kPaired || p.state == PairState::kPooled)) {
    arm_recv(slot, dir);
  }
}

// Sends the unsent rest of the head buffer, straight from the provided buffer. One send per
// flow at a time: bytes of one direction leave in the order they came.
void Relay::send_head(uint32_t slot, int dir) {
  Pair& p = pairs_[slot];
  Flow& f = p.flow[dir];
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_send(s, p.fd[1 - dir], bufs_->buf(f.head) + f.sent, len_[f.head] - f.sent,
                     MSG_NOSIGNAL);
  core::Ring::use_fixed(s, p.fixed[1 - dir]);
  io_uring_sqe_set_data64(s, Encode(kSend0 + static_cast<uint64_t>(dir), slot, p.gen, f.head));
  f.sending = true;
}

void Relay::on_send(uint32_t slot, int dir, uint16_t bid, int res) {
  Pair& p = pairs_[slot];
  Flow& f = p.flow[dir];
  f.sending = false;
  if (res == -EINTR || res == -EAGAIN) {
    send_head(slot, dir);
    return;
  }
  if (res <= 0) {  // the receiving side is gone: nothing more can be delivered
    close_pair(slot);
    return;
  }
  f.sent += static_cast<uint32_t>(res);
  if (f.sent < len_[bid]) {  // short send: the rest, before anything behind it
    send_head(slot, dir);
    return;
  }
  f.head = next_[bid];
  if (f.head == kNoBuf) {
    f.tail = kNoBuf;
  }
  f.sent = 0;
  --f.queued;
  recycle(bid);
  if (f.queued > 0) {
    send_head(slot, dir);
  } else if (f.eof) {
    close_pair(slot);
    return;
  }
  if (f.queued <= kLowWater) {
    maybe_arm(slot, dir);
  }
}

// Ends a pair: both sockets are shut down and closed through the ring, its buffers go
// back (except one an in-flight send still reads: that send's CQE returns it), and the
// generation moves on so every later completion of this pair is dropped. The backend
// connection is not reused: without parsing there is no message boundary to reuse it at.
void Relay::close_pair(uint32_t slot) {
  Pair& p = pairs_[slot];
  release_queue(p.flow[0]);
  release_queue(p.flow[1]);
  for (int i = 0; i < 2; ++i) {
    if (p.fd[i] >= 0) {
      queue_close(p.fd[i], p.fixed[i]);
    }
  }
  if (p.state == PairState::kPooled) {
    pool_remove(slot);
  }
  if (p.fd[0] >= 0) {
    --clients_;
  }
  p = Pair{.gen = p.gen + 1};
  free_.push_back(slot);
  refill();
}

void Relay::release_queue(Flow& f) {
  uint16_t bid = f.head;
  if (f.sending && bid != kNoBuf) {
    bid = next_[bid];
  }
  while (bid != kNoBuf) {
    const uint16_t next = next_[bid];
    recycle(bid);
    bid = next;
  }
}

// Shutdown first: it ends a multishot receive still holding the socket (a close alone
// would leave the socket open behind it) and sends the FIN. Then the fixed slot is
// cleared (it holds a reference too) and the fd closed. Hard-linked, so each step runs
// even when the one before fails (a peer already gone, a connect that never completed).
void Relay::queue_close(int fd, bool fixed) {
  ring_->reserve(fixed ? 3 : 2);
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_shutdown(s, fd, SHUT_RDWR);
  core::Ring::use_fixed(s, fixed);
  io_uring_sqe_set_data64(s, Encode(kIgnore, 0, 0));
  s->flags |= IOSQE_IO_HARDLINK;
  if (fixed) {
    ring_->unfix(fd)->flags |= IOSQE_IO_HARDLINK;
  }
  io_uring_sqe* c = ring_->sqe();
  io_uring_prep_close(c, fd);
  io_uring_sqe_set_data64(c, Encode(kIgnore, 0, 0));
}

// For sockets with no operation in flight and no fixed slot (clients never paired).
void Relay::close_now(int fd) { close(fd); }

void Relay::recycle(uint16_t bid) {
  bufs_->recycle(bid);
  --held_;
}

void Relay::pool_remove(uint32_t slot) {
  const uint32_t pos = pairs_[slot].pool_pos;
  const uint32_t last = pool_.back();
  pool_[pos] = last;
  pairs_[last].pool_pos = pos;
  pool_.pop_back();
}

}  // namespace ringway::floor
