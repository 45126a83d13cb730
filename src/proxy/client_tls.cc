// TLS client connections (client_side.h): the handshake, decryption of what a receive
// brought into c.in, and encryption of c.out for the sends. Everything else about the
// connection (parsing, routing, timers, keep-alive) is the plain path's, fed plaintext.
//
// The Stream is made at the first receive: the ClientHello's SNI picks the context (the
// certificate), so a WOLFSSL is made once per connection on the right context. The
// handshake is bounded by the client header timer armed at accept.
#include <algorithm>
#include <cerrno>
#include <utility>

#include "core/user_data.h"
#include "proxy/shard.h"
#include "ringway/log.h"

namespace ringway::proxy {

using core::Op;

void ClientSide::tls_open(ClientConn& c, const tls::ServerContext&) {
  c.io.kind = transport::Kind::kTls;
  c.io.tls = k_.take_tls();
  c.tls_kick = false;
  c.tls_plain = 0;
}

// Makes the WOLFSSL once the ClientHello's first record is in, on the context its SNI
// picks. 1: started; 0: the record is incomplete; -2: failed (no longer a TLS listener after
// a reload, or no memory).
int ClientSide::tls_start(ClientConn& c) {
  tls::Stream& st = *c.io.tls;
  std::string_view hello = st.received();
  std::string_view name;
  tls::Hello h = tls::client_hello_sni(hello.data(), static_cast<uint32_t>(hello.size()), &name);
  if (h == tls::Hello::kIncomplete) {
    return 0;
  }
  const auto& tls_of = k_.current_->c().listener_tls;
  const tls::ServerContext* ctx = c.listener < tls_of.size() ? tls_of[c.listener].get() : nullptr;
  return ctx != nullptr && st.start_server(ctx->select(k_.id_, name)) ? 1 : -2;
}

// Runs the handshake and decrypts into c.in. Returns the plaintext bytes added, 0 when
// more input is needed, -1 when the client closed (close_notify), -2 on failure.
int ClientSide::tls_drive(ClientConn& c) {
  tls::Stream& st = *c.io.tls;
  if (!st.started()) {
    if (int started = tls_start(c); started <= 0) {
      return started;
    }
  }
  if (!st.handshake_done()) {
    tls::Stream::Step step = st.handshake();
    if (step == tls::Stream::Step::kFailed) {
      return -2;
    }
    if (step == tls::Stream::Step::kWant) {
      return 0;
    }
    ++k_.tls_handshakes_ok_;
  }
  k_.pool_.get(c.in, std::max(k_.current_->c().head_buf_size, k_.bufs_.buf_size()));
  if (c.in.room() < kRecvBufSize && c.state != ClientState::kHead) {
    c.in.compact();  // never while a head is parsed: its views point into c.in
  }
  int n = st.read(c.in.data + c.in.tail, c.in.room());
  if (n > 0) {
    c.in.tail += static_cast<uint32_t>(n);
  }
  return n;
}

// A handshake that failed (`handshake`) sends the alert wolfSSL wrote before closing; a
// record error after it closes at once.
void ClientSide::tls_fail(ClientConn& c, bool handshake) {
  RW_DEBUG("shard %u: client TLS %s: %s request_id=%.*s", k_.id_,
           handshake ? "handshake failed" : "record error", c.io.tls->error().c_str(),
           c.x.trace.active ? static_cast<int>(c.x.request_id_len) : 0, c.x.request_id);
  if (handshake) {
    ++k_.tls_handshakes_failed_;
  }
  if (handshake && c.io.tls->out_size() > 0) {
    // The alert wolfSSL wrote goes out, then the connection closes behind it.
    c.resp_done = true;
    c.close_after_send = true;
    c.keep_alive = false;
    client_send(c);
    return;
  }
  client_close(c);
}

int ClientSide::tls_received(ClientConn& c, int res, uint32_t flags) {
  tls::Stream& st = *c.io.tls;
  bool kick = std::exchange(c.tls_kick, false);
  bool has_buf = (flags & IORING_CQE_F_BUFFER) != 0;
  auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
  if (c.state == ClientState::kClosing || (!kick && res <= 0)) {
    k_.take_received(k_.bufs_, nullptr, res, flags);
    return c.state == ClientState::kClosing ? kTlsHandled : res;
  }
  if (has_buf && res > 0) {
    st.input(k_.bufs_.buf(bid), static_cast<uint32_t>(res));
  }
  bool was_done = st.handshake_done();
  int n = tls_drive(c);
  st.keep_rest();
  if (has_buf) {
    k_.bufs_.recycle(bid);
  }
  if (n == -2) {
    tls_fail(c, !was_done);
    return kTlsHandled;
  }
  if (st.out_size() > 0) {
    client_send(c);  // handshake messages, or a post-handshake answer (key update)
  }
  if (n == -1) {
    return 0;  // close_notify: as an EOF
  }
  if (n == 0) {
    client_recv(c);
    return kTlsHandled;
  }
  return n;
}

// Queues a receive that reads what the Stream holds (a no-op completion), when it has more
// than c.in had room for. True when queued (or nothing to do but wait for room).
bool ClientSide::tls_kick(ClientConn& c) {
  if (!c.io.tls->has_input()) {
    return false;
  }
  if (c.in.allocated() && c.in.room() < kRecvBufSize) {
    if (c.state == ClientState::kHead) {
      return true;  // the head must be consumed first; client_input re-arms
    }
    c.in.compact();
    if (c.in.room() < kRecvBufSize) {
      return true;
    }
  }
  io_uring_sqe* s = k_.ring_.sqe();
  io_uring_prep_nop(s);
  io_uring_sqe_set_data64(s, core::encode(Op::kClientRecv, c.slot, k_.clients_.gen(c.slot)));
  c.tls_kick = true;
  c.recv_armed = true;
  ++c.inflight;
  return true;
}

// client_send for TLS: sends what the Stream has to send, encrypting c.out first when
// nothing is pending. The last send of a connection carries a close_notify and the linked
// close, as on plain connections.
void ClientSide::tls_send(ClientConn& c) {
  tls::Stream& st = *c.io.tls;
  if (st.out_size() == 0 && c.out.size() > 0 && st.handshake_done()) {
    int n = st.write(c.out.data + c.out.head, c.out.size());
    if (n < 0) {
      RW_DEBUG("shard %u: client TLS write failed: %s request_id=%.*s", k_.id_, st.error().c_str(),
               static_cast<int>(c.x.request_id_len), c.x.request_id);
      client_close(c);
      return;
    }
    c.tls_plain = static_cast<uint32_t>(n);
  }
  if (st.out_size() == 0) {
    return;
  }
  bool last = c.tls_plain == c.out.size() && send_ends_connection(c);
  if (last && c.tls_plain > 0) {
    st.shutdown();
  }
  if (last) {
    k_.ring_.reserve(4);  // send, cancel, unfix, close
  }
  io_uring_sqe* s = k_.ring_.sqe();
  transport::prep_send(s, c.io, c.fd, c.fixed, st.out_data(), st.out_size(),
                       MSG_NOSIGNAL | (last ? MSG_WAITALL : 0));
  io_uring_sqe_set_data64(s, core::encode(Op::kClientSend, c.slot, k_.clients_.gen(c.slot)));
  c.send_armed = true;
  ++c.inflight;
  if (last) {
    s->flags |= IOSQE_IO_LINK;
    k_.close_fd(c.fd, Op::kIgnore, c.fixed, c.recv_armed);
    c.linked_close = st.out_size();
    k_.ring_.submit_now();
  }
}

// A send completed: the ciphertext sent is taken off the Stream; once all of it is out,
// the plaintext it carried is reported (0 for handshake messages). kTlsHandled when more
// ciphertext of the same send is still to go (queued again).
int ClientSide::tls_sent(ClientConn& c, int res) {
  tls::Stream& st = *c.io.tls;
  st.out_sent(static_cast<uint32_t>(res));
  if (st.out_size() > 0) {
    client_send(c);  // short send
    return kTlsHandled;
  }
  return static_cast<int>(std::exchange(c.tls_plain, 0));
}

}  // namespace ringway::proxy
