#include "control/etcd_watch.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ringway/etcd.h"
#include "ringway/log.h"

namespace ringway::control {
namespace {

constexpr int kGenShift = 8;
constexpr uint64_t kGenMask = 0xffffffffull;

// The watch stream has no timeout of its own: keepalive finds a peer that vanished without
// a FIN (power loss, a partition) within about 20 s.
void keepalive(int fd) {
  int on = 1;
  int idle = 10;
  int intvl = 5;
  int cnt = 2;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

std::string errno_text(int negative) {
  if (negative == -ECANCELED || negative == -ETIME) {
    return "timeout";
  }
  return strerror(-negative);
}

}  // namespace

EtcdWatch::EtcdWatch(const Clock& clock, core::Ring& ring, uint64_t tag,
                     const config::EtcdSource& cfg, admin::ConfigSourceStatus& status)
    : clock_(clock), ring_(ring), tag_(tag), cfg_(cfg), status_(status) {
  if (cfg_.tls) {
    pool_ = std::make_unique<core::BufPool>();
    tls_ctx_ = std::make_unique<tls::ClientContext>(cfg_.tls, 1);
    tls_ = std::make_unique<tls::Stream>(*pool_);
  }
  status_.etcd = true;
  status_.prefix = cfg_.prefix;
  begin(Mode::kRange);
}

EtcdWatch::~EtcdWatch() { close_fd(); }

uint64_t EtcdWatch::encode(OpKind kind) const {
  return tag_ | (uint64_t{gen_} << kGenShift) | static_cast<uint64_t>(kind);
}

void EtcdWatch::close_fd() {
  if (tls_) {
    tls_->reset();
  }
  request_written_ = false;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

// Opens a connection to the current endpoint for a range read or a watch.
void EtcdWatch::begin(Mode mode) {
  close_fd();
  ++gen_;
  mode_ = mode;
  retry_at_ = UINT64_MAX;
  const config::Address& ep = cfg_.endpoints[endpoint_];
  status_.endpoint = ep.text;
  std::string error;
  if (!config::resolve_address(ep.host, ep.port, &addr_, &addr_len_, &error)) {
    fail(error);
    return;
  }
  fd_ = socket(addr_.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    fail(std::string("socket: ") + strerror(errno));
    return;
  }
  if (mode == Mode::kRange) {
    request_ = etcd::http_request(ep.text, "/v3/kv/range", etcd::range_body(cfg_.prefix));
  } else {
    keepalive(fd_);
    request_ =
        etcd::http_request(ep.text, "/v3/watch", etcd::watch_body(cfg_.prefix, revision_ + 1));
  }
  sent_ = 0;
  rx_.clear();
  head_done_ = false;
  deadline_ = clock_.now_ms() + cfg_.timeout_ms;
  phase_ = Phase::kConnect;
  arm(OpKind::kConnect, true);
}

// Queues the operation of the current phase; `with_timeout` links a timeout at deadline_.
void EtcdWatch::arm(OpKind kind, bool with_timeout) {
  ring_.reserve(2);  // an operation and its linked timeout go in one submission
  io_uring_sqe* s = ring_.sqe();
  switch (kind) {
    case OpKind::kConnect:
      io_uring_prep_connect(s, fd_, reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
      break;
    case OpKind::kSend:
      if (tls_) {
        io_uring_prep_send(s, fd_, tls_->out_data(), tls_->out_size(), MSG_NOSIGNAL);
      } else {
        io_uring_prep_send(s, fd_, request_.data() + sent_, request_.size() - sent_, MSG_NOSIGNAL);
      }
      break;
    default:
      io_uring_prep_recv(s, fd_, buf_, sizeof(buf_), 0);
      break;
  }
  io_uring_sqe_set_data64(s, encode(kind));
  if (!with_timeout) {
    return;
  }
  s->flags |= IOSQE_IO_LINK;
  const uint64_t now = clock_.now_ms();
  timeout_ = core::to_timespec(deadline_ > now ? deadline_ - now : 1);
  io_uring_sqe* t = ring_.sqe();
  io_uring_prep_link_timeout(t, &timeout_, 0);
  io_uring_sqe_set_data64(t, encode(OpKind::kTimeout));
}

void EtcdWatch::on_completion(uint64_t user_data, int res) {
  const uint64_t payload = user_data & ~tag_;
  const auto kind = static_cast<OpKind>(payload & 0xff);
  if (((payload >> kGenShift) & kGenMask) != gen_ || kind == OpKind::kTimeout) {
    return;  // a stale connection's, or a linked timeout (its operation reports it)
  }
  switch (kind) {
    case OpKind::kConnect:
      on_connected(res);
      break;
    case OpKind::kSend:
      on_sent(res);
      break;
    case OpKind::kRecv:
      on_received(res);
      break;
    case OpKind::kTimeout:
      break;
  }
}

void EtcdWatch::on_connected(int res) {
  if (res < 0) {
    fail("connect: " + errno_text(res));
    return;
  }
  if (tls_) {
    const std::string& host = cfg_.endpoints[endpoint_].host;
    if (!tls_->start_client(tls_ctx_->ctx(0), host, nullptr)) {
      fail("TLS: out of memory");
      return;
    }
    tls_step();
    return;
  }
  phase_ = Phase::kSend;
  arm(OpKind::kSend, true);
}

void EtcdWatch::tls_step() {
  tls::Stream& st = *tls_;
  if (st.out_size() == 0 && !st.handshake_done() && st.handshake() == tls::Stream::Step::kFailed) {
    fail("TLS handshake failed: " + st.error());
    return;
  }
  if (st.out_size() == 0 && st.handshake_done() && !request_written_) {
    if (st.write(request_.data(), static_cast<uint32_t>(request_.size())) !=
        static_cast<int>(request_.size())) {
      fail("TLS write failed: " + st.error());
      return;
    }
    request_written_ = true;
  }
  if (st.out_size() > 0) {
    phase_ = Phase::kSend;
    arm(OpKind::kSend, true);
  } else {
    phase_ = Phase::kRecv;
    arm(OpKind::kRecv, mode_ == Mode::kRange || !request_written_);
  }
}

// TLS: ciphertext arrived. During the handshake it drives it; after, the plaintext goes to
// rx_ as a plain connection's bytes do.
void EtcdWatch::tls_received(int res) {
  tls::Stream& st = *tls_;
  st.input(buf_, static_cast<uint32_t>(res));
  if (!request_written_) {
    tls_step();
    if (fd_ >= 0) {
      st.keep_rest();
    }
    return;
  }
  bool closed = false;
  for (;;) {
    const int n = st.read(plain_, sizeof(plain_));
    if (n > 0) {
      rx_.append(plain_, static_cast<size_t>(n));
      continue;
    }
    if (n == -2) {
      fail("TLS error: " + st.error());
      return;
    }
    closed = n == -1;  // close_notify: the answer is complete
    break;
  }
  st.keep_rest();
  if (!take_bytes()) {
    return;
  }
  if (closed) {
    at_eof();
    return;
  }
  tls_step();
}

void EtcdWatch::on_sent(int res) {
  if (res <= 0) {
    fail("send: " + errno_text(res == 0 ? -EPIPE : res));
    return;
  }
  if (tls_) {
    tls_->out_sent(static_cast<uint32_t>(res));
    tls_step();
    return;
  }
  sent_ += static_cast<size_t>(res);
  if (sent_ < request_.size()) {
    arm(OpKind::kSend, true);
    return;
  }
  phase_ = Phase::kRecv;
  arm(OpKind::kRecv, mode_ == Mode::kRange);
}

void EtcdWatch::on_received(int res) {
  if (res < 0) {
    fail("receive: " + errno_text(res));
    return;
  }
  if (res == 0) {
    at_eof();
    return;
  }
  if (tls_) {
    tls_received(res);
    return;
  }
  rx_.append(buf_, static_cast<size_t>(res));
  if (take_bytes()) {
    arm(OpKind::kRecv, mode_ == Mode::kRange);
  }
}

void EtcdWatch::at_eof() {
  if (mode_ == Mode::kWatch) {
    fail("the watch stream ended");
  } else if (take_range()) {
    begin(Mode::kWatch);
  }
}

bool EtcdWatch::take_bytes() {
  if (rx_.size() > kMaxAnswerBytes) {  // a range answer, or one watch message, so large
    fail("answer over " + std::to_string(kMaxAnswerBytes) + " bytes");
    return false;
  }
  return mode_ == Mode::kRange || take_watch_lines();
}

// The whole range answer is in rx_: replaces the objects. False after a failure.
bool EtcdWatch::take_range() {
  std::optional<etcd::HttpAnswer> http = etcd::split_response(rx_);
  if (!http || http->status != 200) {
    fail(http ? "range: HTTP " + std::to_string(http->status) : "range: malformed answer");
    return false;
  }
  etcd::RangeResult r = etcd::parse_range(http->body);
  if (!r.error.empty()) {
    fail("range: " + r.error);
    return false;
  }
  std::map<std::string, std::string> objects;
  for (etcd::KeyValue& kv : r.kvs) {
    if (kv.key.compare(0, cfg_.prefix.size(), cfg_.prefix) == 0) {
      objects.emplace(kv.key.substr(cfg_.prefix.size()), std::move(kv.value));
    }
  }
  if (failing_ || !read_once_) {
    RW_INFO("etcd: read %s at revision %lld from %s (%zu keys)", cfg_.prefix.c_str(),
            static_cast<long long>(r.revision), status_.endpoint.c_str(), objects.size());
  }
  failing_ = false;
  failures_since_log_ = 0;
  backoff_ms_ = kFirstBackoffMs;
  status_.connection_error.clear();
  ready_ = ready_ || !read_once_ || objects != objects_;
  ready_at_ = clock_.now_ms();  // a read is handed over at once
  objects_ = std::move(objects);
  revision_ = r.revision;
  status_.seen_revision = r.revision;
  read_once_ = true;
  return true;
}

// Parses every complete line of the watch stream. False after a failure or a new read.
bool EtcdWatch::take_watch_lines() {
  size_t pos = 0;
  if (!head_done_) {
    std::optional<etcd::HttpAnswer> http = etcd::split_response(rx_);
    if (!http) {
      return true;  // the head is not complete yet
    }
    if (http->status != 200) {
      fail("watch: HTTP " + std::to_string(http->status));
      return false;
    }
    head_done_ = true;
    pos = rx_.size() - http->body.size();
  }
  for (size_t eol; (eol = rx_.find('\n', pos)) != std::string::npos; pos = eol + 1) {
    etcd::WatchMessage m = etcd::parse_watch_line(std::string_view(rx_).substr(pos, eol - pos));
    if (!m.error.empty()) {
      fail("watch: " + m.error);
      return false;
    }
    if (m.canceled) {
      RW_WARN("etcd: watch canceled at revision %lld (compacted to %lld): reading again",
              static_cast<long long>(revision_ + 1), static_cast<long long>(m.compact_revision));
      begin(Mode::kRange);
      return false;
    }
    if (m.created) {
      status_.connected = true;
    }
    for (etcd::WatchEvent& e : m.events) {
      if (e.kv.key.compare(0, cfg_.prefix.size(), cfg_.prefix) != 0) {
        continue;
      }
      std::string key = e.kv.key.substr(cfg_.prefix.size());
      if (e.is_delete) {
        objects_.erase(key);
      } else {
        objects_[key] = std::move(e.kv.value);
      }
      if (!ready_) {
        ready_ = true;
        ready_at_ = clock_.now_ms() + kCoalesceMs;
      }
    }
    revision_ = std::max(revision_, m.revision);
    status_.seen_revision = revision_;
  }
  rx_.erase(0, pos);
  return true;
}

void EtcdWatch::fail(const std::string& reason) {
  close_fd();
  ++gen_;  // whatever is still queued for this connection is stale now
  phase_ = Phase::kIdle;
  status_.connected = false;
  status_.connection_error = reason;
  ++status_.connection_failures;
  const uint64_t now = clock_.now_ms();
  ++failures_since_log_;
  if (!failing_ || now - last_log_ >= kLogEveryMs) {
    RW_WARN(
        "etcd: %s: %s (%llu failures since the last message); serving revision %lld, "
        "retrying in %llu ms",
        status_.endpoint.c_str(), reason.c_str(),
        static_cast<unsigned long long>(failures_since_log_),
        static_cast<long long>(status_.revision), static_cast<unsigned long long>(backoff_ms_));
    failures_since_log_ = 0;
    last_log_ = now;
  }
  failing_ = true;
  retry_at_ = now + backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
  endpoint_ = (endpoint_ + 1) % cfg_.endpoints.size();
}

bool EtcdWatch::poll(uint64_t now) {
  if (phase_ == Phase::kIdle && now >= retry_at_) {
    begin(Mode::kRange);  // after a failure: read everything again, then watch
  }
  if (ready_ && now >= ready_at_) {
    ready_ = false;
    ready_at_ = UINT64_MAX;
    return true;
  }
  return false;
}

uint64_t EtcdWatch::next_due() const {
  uint64_t due = ready_ ? ready_at_ : UINT64_MAX;
  return phase_ == Phase::kIdle ? std::min(due, retry_at_) : due;
}

}  // namespace ringway::control
