// The health checker: one slot per target, one check per slot at a time, on its own ring
// or on one it is given (the control loop's). A check is a chain of single operations
// (connect, then send and receive for http), each linked to a timeout for what is left of
// the check's deadline; a linked timeout that fires completes the operation with
// -ECANCELED, which is the "timeout" failure.
//
// Thread affinity: the thread that submits to the ring, i.e. the control thread (see
// health.h).
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string>
#include <unordered_map>

#include "core/buf_pool.h"
#include "core/ring.h"
#include "health/probe.h"
#include "ringway/health.h"
#include "ringway/log.h"
#include "ringway/tls.h"

namespace ringway::health {

namespace {

constexpr uint32_t kRingEntries = 256;
constexpr int kDrainWaits = 100;  // destructor: waits of kDrainWaitMs for cancelled ops
constexpr uint64_t kDrainWaitMs = 10;
constexpr size_t kTlsRecvBytes = 16384 + 256;  // one TLS record

enum class Phase : uint8_t {
  kIdle,     // no socket, nothing pending
  kConnect,  // one operation (and its linked timeout) in flight per phase
  kSend,
  kRecv,
  kDone,  // result recorded; waiting for the remaining completions before closing
};

// user_data: the checker's tag in the top byte, the slot's address below it (Linux user
// addresses are below 2^56) with a tag in the low bit (slots are 8-byte aligned). kMain is
// the phase's operation, kAux a linked timeout or a cancel; a null slot is ignored.
enum class Tag : uint64_t { kMain = 0, kAux = 1 };
constexpr uint64_t kSlotMask = ~Checker::kTagMask & ~uint64_t{1};

template <typename T>
T* slot_of(uint64_t ud) {
  return reinterpret_cast<T*>(ud & kSlotMask);
}
Tag tag_of(uint64_t ud) { return static_cast<Tag>(ud & 1); }

}  // namespace

struct alignas(8) Checker::Slot {
  explicit Slot(Target t)
      : target(std::move(t)),
        state(target.healthy_threshold, target.unhealthy_threshold),
        request(internal::build_request(target)) {}

  Target target;
  MemberState state;
  std::string request;  // http only
  size_t index = 0;     // position in slots_ and up_
  int fd = -1;
  uint32_t pending = 0;  // completions still to come (operations, timeouts, cancels)
  Phase phase = Phase::kIdle;
  bool retired = false;   // removed by set_targets or the destructor: results are dropped
  uint64_t due = 0;       // clock ms: start of the next check
  uint64_t deadline = 0;  // clock ms: end of the current check
  uint64_t checks = 0;
  bool last_ok = true;  // the last check passed (or none ran yet)
  uint64_t since = 0;   // clock ms: when `state.up()` last changed, or the target was added
  std::string last_failure;
  size_t sent = 0;
  size_t received = 0;
  // https: the TLS engine, the ciphertext receive buffer, and whether the request was
  // encrypted into the engine's output yet.
  std::unique_ptr<tls::Stream> tls;
  std::vector<char> rx;
  bool request_written = false;
  __kernel_timespec timeout{};  // read by the kernel when the linked timeout is submitted
  std::array<char, 256> buf{};  // the status line must fit
};

Checker::Checker(const Clock& clock)
    : clock_(clock),
      own_ring_(std::make_unique<core::Ring>(kRingEntries)),
      ring_(own_ring_.get()),
      pool_(std::make_unique<core::BufPool>()) {}

Checker::Checker(const Clock& clock, core::Ring& ring, uint64_t tag)
    : clock_(clock), ring_(&ring), tag_(tag & kTagMask), pool_(std::make_unique<core::BufPool>()) {}

uint64_t Checker::encode(const Slot* s, bool aux) const {
  return tag_ | reinterpret_cast<uint64_t>(s) | static_cast<uint64_t>(aux ? Tag::kAux : Tag::kMain);
}

Checker::~Checker() {
  for (std::unique_ptr<Slot>& s : slots_) {
    retire(std::move(s));
  }
  slots_.clear();
  bool ignored = false;
  for (int i = 0; i < kDrainWaits && !retiring_.empty(); ++i) {
    ring_->submit_and_wait(kDrainWaitMs);
    reap(&ignored);
  }
  if (!retiring_.empty()) {
    RW_ERROR("health: %zu checks still pending at shutdown", retiring_.size());
  }
  for (std::unique_ptr<Slot>& s : retiring_) {
    if (s->fd >= 0) {
      close(s->fd);
    }
  }
  own_ring_.reset();  // the kernel drops what is left before the slots' buffers go
}

void Checker::set_targets(std::vector<Target> targets) {
  std::unordered_map<std::string, std::unique_ptr<Slot>> old;
  for (std::unique_ptr<Slot>& s : slots_) {
    auto [it, inserted] = old.try_emplace(s->target.key);
    if (inserted) {
      it->second = std::move(s);
    } else {
      retire(std::move(s));  // a duplicate key: only the first one can be kept
    }
  }
  slots_.clear();
  const uint64_t now = clock_.now_ms();
  for (Target& t : targets) {
    auto it = old.find(t.key);
    if (it != old.end() && it->second != nullptr) {
      slots_.push_back(std::move(it->second));
      slots_.back()->target.label = std::move(t.label);  // same check; the spelling may differ
    } else {
      slots_.push_back(std::make_unique<Slot>(std::move(t)));
      slots_.back()->due = now;
      slots_.back()->since = now;
    }
  }
  up_.assign(slots_.size(), 0);
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i]->index = i;
    up_[i] = slots_[i]->state.up() ? 1 : 0;
  }
  for (auto& [key, s] : old) {
    if (s != nullptr) {
      retire(std::move(s));
    }
  }
  ++version_;
}

bool Checker::run_for(uint64_t max_ms) {
  const uint64_t begin = clock_.now_ms();
  bool changed = false;
  for (;;) {
    const uint64_t now = clock_.now_ms();
    changed = start_due(now) || changed;
    const uint64_t elapsed = now - begin;
    const uint64_t budget = elapsed >= max_ms ? 0 : max_ms - elapsed;
    const uint64_t wait = changed ? 0 : std::min(budget, next_due(now) - now);
    ring_->submit_and_wait(wait);
    const size_t reaped = reap(&changed);
    if (changed || budget == 0 || (reaped == 0 && clock_.now_ms() == now)) {
      break;
    }
  }
  io_uring_submit(ring_->raw());
  return changed;
}

const MemberState& Checker::state(size_t i) const { return slots_.at(i)->state; }

uint64_t Checker::checks(size_t i) const { return slots_.at(i)->checks; }

const std::string& Checker::last_failure(size_t i) const { return slots_.at(i)->last_failure; }
bool Checker::last_ok(size_t i) const { return slots_.at(i)->last_ok; }
uint64_t Checker::since(size_t i) const { return slots_.at(i)->since; }

size_t Checker::in_flight() const {
  size_t n = retiring_.size();
  for (const std::unique_ptr<Slot>& s : slots_) {
    n += s->phase != Phase::kIdle ? 1 : 0;
  }
  return n;
}

bool Checker::start_due(uint64_t now) {
  bool changed = false;
  for (std::unique_ptr<Slot>& s : slots_) {
    if (s->phase == Phase::kIdle && s->due <= now) {
      changed = start(*s, now) || changed;
    }
  }
  return changed;
}

uint64_t Checker::next_due(uint64_t now) const {
  uint64_t due = UINT64_MAX;
  for (const std::unique_ptr<Slot>& s : slots_) {
    if (s->phase == Phase::kIdle) {
      due = std::min(due, std::max(s->due, now));
    }
  }
  return due;
}

bool Checker::start(Slot& s, uint64_t now) {
  s.due = now + s.target.interval_ms;
  s.deadline = now + s.target.timeout_ms;
  s.sent = 0;
  s.received = 0;
  s.request_written = false;
  // A blocking-mode socket: io_uring polls it itself; O_NONBLOCK would surface -EAGAIN.
  s.fd = socket(s.target.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool changed = false;
  if (s.fd < 0) {
    changed = finish(s, false, internal::errno_reason(-errno));
  } else {
    s.phase = Phase::kConnect;
    changed = submit_op(s, now);
  }
  release_if_drained(s);  // the check may have ended before any operation was queued
  return changed;
}

// Queues the current phase's operation linked to a timeout for the rest of the deadline.
bool Checker::submit_op(Slot& s, uint64_t now) {
  if (now >= s.deadline) {
    return finish(s, false, "timeout");
  }
  io_uring* ring = ring_->raw();
  if (io_uring_sq_space_left(ring) < 2) {
    io_uring_submit(ring);  // a link cannot span two submits: reserve both entries
  }
  io_uring_sqe* op = ring_->sqe();
  if (s.phase == Phase::kConnect) {
    io_uring_prep_connect(op, s.fd, reinterpret_cast<const sockaddr*>(&s.target.addr),
                          s.target.addr_len);
  } else if (s.phase == Phase::kSend && s.tls != nullptr) {
    io_uring_prep_send(op, s.fd, s.tls->out_data(), s.tls->out_size(), MSG_NOSIGNAL);
  } else if (s.phase == Phase::kSend) {
    io_uring_prep_send(op, s.fd, s.request.data() + s.sent, s.request.size() - s.sent,
                       MSG_NOSIGNAL);
  } else if (s.tls != nullptr) {
    io_uring_prep_recv(op, s.fd, s.rx.data(), s.rx.size(), 0);
  } else {
    io_uring_prep_recv(op, s.fd, s.buf.data() + s.received, s.buf.size() - s.received, 0);
  }
  io_uring_sqe_set_data64(op, encode(&s, false));
  op->flags |= IOSQE_IO_LINK;
  s.timeout = core::to_timespec(s.deadline - now);
  io_uring_sqe* timeout = ring_->sqe();
  io_uring_prep_link_timeout(timeout, &s.timeout, 0);
  io_uring_sqe_set_data64(timeout, encode(&s, true));
  s.pending += 2;
  return false;
}

// Takes every ready completion off the ring and processes the checker's own; another
// owner's are dropped (only on a shared ring, in the destructor). Returns how many were
// the checker's.
size_t Checker::reap(bool* changed) {
  io_uring* ring = ring_->raw();
  cqes_.clear();
  unsigned head = 0;
  unsigned seen = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(ring, head, cqe) {
    ++seen;
    if ((cqe->user_data & kTagMask) == tag_) {
      cqes_.emplace_back(cqe->user_data, cqe->res);
    }
  }
  io_uring_cq_advance(ring, seen);
  for (const auto& [user_data, res] : cqes_) {
    *changed = on_completion(user_data, res) || *changed;
  }
  return cqes_.size();
}

bool Checker::on_completion(uint64_t user_data, int res) {
  Slot* s = slot_of<Slot>(user_data);
  if (s == nullptr) {
    return false;
  }
  --s->pending;
  bool changed = false;
  if (tag_of(user_data) == Tag::kMain && !s->retired && s->phase != Phase::kDone) {
    changed = advance(*s, res);
  }
  release_if_drained(*s);  // may destroy a retired slot: `s` is not used after this
  return changed;
}

// One operation of the check completed with `res`: fail, finish or queue the next one.
bool Checker::advance(Slot& s, int res) {
  if (res < 0) {
    return finish(s, false, internal::errno_reason(res));
  }
  const uint64_t now = clock_.now_ms();
  if (s.phase == Phase::kConnect) {
    if (s.target.protocol == Protocol::kTcp) {
      return finish(s, true, "");
    }
    if (s.target.protocol == Protocol::kHttps) {
      if (s.tls == nullptr) {
        s.tls = std::make_unique<tls::Stream>(*pool_);
        s.rx.resize(kTlsRecvBytes);
      }
      if (!s.tls->start_client(s.target.tls->ctx(0), s.target.tls_name, nullptr)) {
        return finish(s, false, "TLS: out of memory");
      }
      return tls_progress(s, now);
    }
    s.phase = Phase::kSend;
  } else if (s.phase == Phase::kSend && s.tls != nullptr) {
    s.tls->out_sent(static_cast<uint32_t>(res));
    return tls_progress(s, now);
  } else if (s.phase == Phase::kRecv && s.tls != nullptr) {
    return tls_received(s, res, now);
  } else if (s.phase == Phase::kSend) {
    s.sent += static_cast<size_t>(res);
    s.phase = s.sent < s.request.size() ? Phase::kSend : Phase::kRecv;
  } else {
    if (res == 0) {
      return finish(s, false, "bad response (closed before the status line)");
    }
    s.received += static_cast<size_t>(res);
    bool changed = false;
    if (judge_status(s, &changed)) {
      return changed;
    }
  }
  return submit_op(s, now);
}

// https: drives the handshake, encrypts the request once it is done, then sends what the
// engine has to send or receives.
bool Checker::tls_progress(Slot& s, uint64_t now) {
  tls::Stream& st = *s.tls;
  if (st.out_size() == 0) {
    if (st.handshake() == tls::Stream::Step::kFailed) {
      return finish(s, false, "TLS handshake failed: " + st.error());
    }
    if (st.handshake_done() && !s.request_written) {
      if (st.write(s.request.data(), static_cast<uint32_t>(s.request.size())) !=
          static_cast<int>(s.request.size())) {
        return finish(s, false, "TLS write failed: " + st.error());
      }
      s.request_written = true;
    }
  }
  s.phase = st.out_size() > 0 ? Phase::kSend : Phase::kRecv;
  return submit_op(s, now);
}

// https: ciphertext arrived; before the request, it is the handshake's; after, the status
// line is decrypted into the slot's buffer.
bool Checker::tls_received(Slot& s, int res, uint64_t now) {
  tls::Stream& st = *s.tls;
  if (res == 0) {
    return finish(s, false, "bad response (closed before the status line)");
  }
  st.input(s.rx.data(), static_cast<uint32_t>(res));
  if (!s.request_written) {
    bool changed = tls_progress(s, now);
    st.keep_rest();
    return changed;
  }
  int n = st.read(s.buf.data() + s.received, static_cast<uint32_t>(s.buf.size() - s.received));
  st.keep_rest();
  if (n < 0) {
    return finish(
        s, false,
        n == -1 ? "bad response (closed before the status line)" : "TLS error: " + st.error());
  }
  s.received += static_cast<size_t>(n);
  bool changed = false;
  return judge_status(s, &changed) ? changed : tls_progress(s, now);
}

// Judges the status line received so far: true (with *changed) when the check is over,
// false when more is needed.
bool Checker::judge_status(Slot& s, bool* changed) {
  uint16_t status = 0;
  switch (internal::parse_status_line(std::string_view(s.buf.data(), s.received), &status)) {
    case internal::StatusLine::kOk:
      *changed = internal::status_accepted(s.target.codes, status)
                     ? finish(s, true, "")
                     : finish(s, false, "status " + std::to_string(status));
      return true;
    case internal::StatusLine::kBad:
      *changed = finish(s, false, "bad response");
      return true;
    case internal::StatusLine::kIncomplete:
      if (s.received == s.buf.size()) {
        *changed = finish(s, false, "bad response (status line too long)");
        return true;
      }
      return false;
  }
  return false;
}

// Records the check's result; returns true when the target's up/down state changed.
bool Checker::finish(Slot& s, bool ok, const std::string& reason) {
  s.phase = Phase::kDone;
  ++s.checks;
  s.last_ok = ok;
  if (!ok) {
    s.last_failure = reason;
    RW_DEBUG("health: %s check failed: %s", s.target.label.c_str(), reason.c_str());
  }
  if (!s.state.record(ok)) {
    return false;
  }
  up_[s.index] = s.state.up() ? 1 : 0;
  s.since = clock_.now_ms();
  ++version_;
  if (s.state.up()) {
    RW_INFO("health: %s up (%u consecutive successes)", s.target.label.c_str(),
            s.state.successes());
  } else {
    RW_WARN("health: %s down (reason: %s, %u consecutive failures)", s.target.label.c_str(),
            reason.c_str(), s.state.failures());
  }
  return true;
}

// Takes a slot out of the target set: its in-flight operations are cancelled and it is
// freed once their completions are in.
void Checker::retire(std::unique_ptr<Slot> s) {
  s->retired = true;
  if (s->phase == Phase::kIdle) {
    return;  // no socket, nothing pending
  }
  s->phase = Phase::kDone;
  if (s->pending > 0) {
    io_uring_sqe* cancel = ring_->sqe();
    io_uring_prep_cancel_fd(cancel, s->fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(cancel, encode(s.get(), true));
    ++s->pending;
  }
  retiring_.push_back(std::move(s));
  release_if_drained(*retiring_.back());
}

// Closes the socket of a finished check once nothing is pending on it.
void Checker::release_if_drained(Slot& s) {
  if (s.phase != Phase::kDone || s.pending > 0) {
    return;
  }
  if (s.fd >= 0) {
    close(s.fd);
    s.fd = -1;
  }
  if (s.tls != nullptr) {
    s.tls->reset();  // the WOLFSSL and its buffers; each check is a new connection
  }
  s.phase = Phase::kIdle;
  if (s.retired) {
    auto it = std::find_if(retiring_.begin(), retiring_.end(),
                           [&s](const std::unique_ptr<Slot>& r) { return r.get() == &s; });
    if (it != retiring_.end()) {
      retiring_.erase(it);
    }
  }
}

}  // namespace ringway::health
