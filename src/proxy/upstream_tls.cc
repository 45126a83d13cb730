// TLS backend connections (upstreams.h): the handshake after TCP connect, decryption of
// what a receive brought into u.in, encryption of the exchange's up_out for the sends, and
// the sessions kept to resume the next connection to the same backend. The rest (pools,
// parsing, relay) is the plain path's, fed plaintext; zero-copy relays are off
// (transport::zero_copy).
//
// A handshake or verification failure fails the attempt like a refused connect (retried at
// another member when the budget allows), answered 502 RW.5260, with the reason in the log.

// wolfSSL's options.h comes before any other wolfSSL header (its build settings).
#include <wolfssl/options.h>

#include <wolfssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "core/user_data.h"
#include "proxy/shard.h"
#include "ringway/log.h"

namespace ringway::proxy {

using core::Op;

namespace {
constexpr size_t kMaxSessions = 4096;  // backend identities with a session kept, per shard
}  // namespace

Upstreams::~Upstreams() {
  for (auto& [key, session] : sessions_) {
    wolfSSL_SESSION_free(session);
  }
}

void Upstreams::upstream_tls_handshake(ClientConn& c, UpstreamConn& u) {
  tls::Stream& st = *u.io.tls;
  WOLFSSL_SESSION* resume = nullptr;
  if (auto it = sessions_.find(u.key); it != sessions_.end()) {
    resume = it->second;
  }
  static const std::string kNoName;
  if (c.x.tls_ctx == nullptr ||
      !st.start_client(c.x.tls_ctx, c.x.tls_name != nullptr ? *c.x.tls_name : kNoName, resume)) {
    upstream_tls_failed(u);
    return;
  }
  upstream_tls_step(u);
}

// Drives the handshake with what was received; sends what it wrote; on completion the
// connection is ready for the exchange.
void Upstreams::upstream_tls_step(UpstreamConn& u) {
  tls::Stream& st = *u.io.tls;
  tls::Stream::Step step = st.handshake();
  if (step == tls::Stream::Step::kFailed) {
    upstream_tls_failed(u);
    return;
  }
  upstream_tls_send(nullptr, u);
  if (step == tls::Stream::Step::kWant) {
    upstream_recv(u);
    return;
  }
  ClientConn* c = exchange_of(u);
  if (c != nullptr) {
    upstream_connected(*c, u);
  }
}

void Upstreams::upstream_tls_failed(UpstreamConn& u) {
  std::string why = u.io.tls->started() ? u.io.tls->error() : std::string("no TLS context");
  sessions_.erase(u.key);  // a session the backend refused is not offered again
  ClientConn* c = exchange_of(u);
  RW_WARN("shard %u: backend TLS handshake failed: %s request_id=%.*s", k_.id_, why.c_str(),
          c != nullptr ? static_cast<int>(c->x.request_id_len) : 0,
          c != nullptr ? c->x.request_id : "");
  if (c != nullptr) {
    fwd_.upstream_failed(*c, &u, Failure::kConnect, 502, "RW.5260", "backend TLS handshake failed");
  }
}

int Upstreams::upstream_tls_received(UpstreamConn& u, int res, uint32_t flags) {
  tls::Stream& st = *u.io.tls;
  bool kick = std::exchange(u.tls_kick, false);
  bool has_buf = (flags & IORING_CQE_F_BUFFER) != 0;
  auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
  if (u.state == UpstreamState::kClosing || (!kick && res <= 0)) {
    k_.take_received(k_.up_bufs_, nullptr, res, flags);
    return u.state == UpstreamState::kClosing ? kTlsHandled : res;
  }
  if (has_buf && res > 0) {
    st.input(k_.up_bufs_.buf(bid), static_cast<uint32_t>(res));
  }
  if (!st.handshake_done()) {
    upstream_tls_step(u);  // uses the bytes in place; the buffer goes back after
    st.keep_rest();
    if (has_buf) {
      k_.up_bufs_.recycle(bid);
    }
    return kTlsHandled;
  }
  k_.pool_.get(u.in, std::max(k_.current_->c().head_buf_size, k_.up_bufs_.buf_size()));
  if (u.in.room() < kRecvBufSize) {
    u.in.compact();
  }
  int n = st.read(u.in.data + u.in.tail, u.in.room());
  st.keep_rest();
  if (has_buf) {
    k_.up_bufs_.recycle(bid);
  }
  if (n > 0) {
    u.in.tail += static_cast<uint32_t>(n);
  } else if (u.in.allocated() && u.in.empty()) {
    k_.pool_.put(u.in);
  }
  if (st.out_size() > 0) {
    upstream_tls_send(nullptr, u);  // a post-handshake answer (key update)
  }
  if (n == 0) {
    upstream_recv(u);  // a record without application data (a session ticket), or a part
    return kTlsHandled;
  }
  if (n == -2) {
    RW_DEBUG("shard %u: backend TLS record error: %s", k_.id_, st.error().c_str());
  }
  return n == -1 ? 0 : n == -2 ? -EPROTO : n;  // close_notify reads as an EOF
}

bool Upstreams::upstream_tls_kick(UpstreamConn& u) {
  if (!u.io.tls->has_input()) {
    return false;
  }
  if (u.in.allocated() && u.in.room() < kRecvBufSize) {
    u.in.compact();
    if (u.in.room() < kRecvBufSize) {
      return true;  // upstream_input re-arms once the client took what u.in holds
    }
  }
  io_uring_sqe* s = k_.ring_.sqe();
  io_uring_prep_nop(s);
  io_uring_sqe_set_data64(s, core::encode(Op::kUpRecv, u.slot, k_.upstreams_.gen(u.slot)));
  u.tls_kick = true;
  u.recv_armed = true;
  u.recv_len = 0;
  ++u.inflight;
  return true;
}

// Sends what the Stream has to send; with `c` and the handshake done, encrypts the rest of
// c's up_out first when nothing is pending. The send reads the Stream's buffer, not c's:
// nothing is lent.
void Upstreams::upstream_tls_send(ClientConn* c, UpstreamConn& u) {
  tls::Stream& st = *u.io.tls;
  if (u.send_armed || u.state == UpstreamState::kClosing) {
    return;
  }
  if (c != nullptr && st.out_size() == 0 && st.handshake_done() &&
      c->x.up_out.tail > c->x.up_out_sent) {
    int n = st.write(c->x.up_out.data + c->x.up_out_sent, c->x.up_out.tail - c->x.up_out_sent);
    if (n < 0) {
      fwd_.upstream_failed(*c, &u, Failure::kLost, 502, "RW.5021",
                           "backend connection lost while sending");
      return;
    }
    u.tls_plain = static_cast<uint32_t>(n);
  }
  if (st.out_size() == 0) {
    return;
  }
  io_uring_sqe* s = k_.ring_.sqe();
  transport::prep_send(s, u.io, u.fd, u.fixed, st.out_data(), st.out_size(), MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, core::encode(Op::kUpSend, u.slot, k_.upstreams_.gen(u.slot)));
  u.send_armed = true;
  ++u.inflight;
}

// A send completed: the plaintext bytes of up_out it carried once all its ciphertext is
// out, or kTlsHandled (more of it queued again; a handshake flight; an idle connection's).
int Upstreams::upstream_tls_sent(UpstreamConn& u, int res) {
  tls::Stream& st = *u.io.tls;
  st.out_sent(static_cast<uint32_t>(res));
  if (st.out_size() > 0) {
    upstream_tls_send(nullptr, u);
    return kTlsHandled;
  }
  if (!st.handshake_done() || u.state != UpstreamState::kBusy) {
    return kTlsHandled;  // the receive drives the handshake; idle: nothing to report
  }
  return static_cast<int>(std::exchange(u.tls_plain, 0));
}

// Keeps the connection's session (with the ticket a TLS 1.3 server sends after the
// handshake) for the next connection to the same backend identity.
void Upstreams::upstream_tls_keep_session(UpstreamConn& u) {
  // A resumed connection keeps the session it resumed with: the TLS 1.3 ticket wolfSSL
  // stores from a resumed connection fails its binder at the next resumption (Node/OpenSSL
  // backends answer illegal_parameter: every third connection failed, it_websocket
  // WebSocketTlsTest). Only a full handshake's session is saved.
  if (u.io.tls->resumed() && sessions_.count(u.key) != 0) {
    return;
  }
  WOLFSSL_SESSION* s = u.io.tls->session();
  if (s == nullptr) {
    return;
  }
  auto [it, inserted] = sessions_.try_emplace(u.key, s);
  if (!inserted) {
    wolfSSL_SESSION_free(it->second);
    it->second = s;
  } else if (sessions_.size() > kMaxSessions) {
    // Identities pile up over reloads (new context ids): start over, bounded.
    for (auto& [key, old] : sessions_) {
      wolfSSL_SESSION_free(old);
    }
    sessions_.clear();
  }
}

}  // namespace ringway::proxy
