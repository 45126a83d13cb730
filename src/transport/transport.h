// The byte stream under a client or backend connection: how its socket operations are put
// on the shard's ring. Every receive, send and connect of the client side and the
// upstreams is prepared here and nowhere else, so a new kind of stream has one place to
// go. Two kinds: plain TCP, and TLS (ringway/tls.h), whose receives take ciphertext into a
// provided buffer that the connection's tls::Stream decrypts into the connection's own
// buffer (client_tls.cc, upstream_tls.cc), and whose sends send the Stream's ciphertext of
// the connection's bytes. The socket ops are the same for both; what differs is what their
// buffers hold.
//
// Zero-copy body paths hand the kernel one side's buffer for the other side's socket: a
// response sent straight from the backend's receive buffer (lead) and a body received
// straight into the client's output buffer (direct relay). They need both streams plain
// (zero_copy()); anything else takes the copy path through the parsers.
//
// Thread affinity: the owning shard. Each call fills one SQE: no allocation, no syscall.
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <cstdint>

#include "core/ring.h"

namespace ringway::tls {
class Stream;
}

namespace ringway::transport {

enum class Kind : uint8_t {
  kPlain,  // TCP: the bytes on the wire are the connection's bytes
  kTls,    // TLS: the bytes on the wire are `tls`'s records
};

struct Stream {
  Kind kind = Kind::kPlain;
  tls::Stream* tls = nullptr;  // kTls: the connection's engine (pooled by its shard)
  bool plain() const { return kind == Kind::kPlain; }
};

// Both sides plain: one side's buffers may be given to the other side's socket ops.
inline bool zero_copy(const Stream& a, const Stream& b) { return a.plain() && b.plain(); }

// Fills `s` for a stream of kind `st.kind`; `plain` prepares the op on the socket itself.
// The lambdas inline: no dispatch at run time beyond the switch.
template <class PlainOp>
inline void prep(io_uring_sqe* s, const Stream& st, bool fixed, PlainOp&& plain) {
  switch (st.kind) {
    case Kind::kPlain:
    case Kind::kTls:  // same socket op; the buffers hold ciphertext
      plain(s);
      break;
  }
  core::Ring::use_fixed(s, fixed);
}

// A receive of at most `len` bytes into a provided buffer of `group`. `poll_first`: no
// data is expected yet (IORING_RECVSEND_POLL_FIRST).
inline void prep_recv(io_uring_sqe* s, const Stream& st, int fd, bool fixed, uint32_t len,
                      uint16_t group, bool poll_first) {
  prep(s, st, fixed, [&](io_uring_sqe* q) {
    io_uring_prep_recv(q, fd, nullptr, len, 0);
    q->ioprio |= poll_first ? IORING_RECVSEND_POLL_FIRST : 0;
    q->flags |= IOSQE_BUFFER_SELECT;
    q->buf_group = group;
  });
}

// A multishot receive into provided buffers of `group`: armed once, it posts a completion
// (IORING_CQE_F_MORE set) for every burst of bytes until it ends or is cancelled. Plain
// streams (a TLS engine reads one record stream at its own pace: single receives).
inline void prep_recv_multishot(io_uring_sqe* s, const Stream& st, int fd, bool fixed,
                                uint16_t group) {
  prep(s, st, fixed, [&](io_uring_sqe* q) {
    io_uring_prep_recv_multishot(q, fd, nullptr, 0, 0);  // length 0: a whole buffer
    q->flags |= IOSQE_BUFFER_SELECT;
    q->buf_group = group;
  });
}

// A receive straight into `dst` (the direct relay). Plain streams only (zero_copy()).
inline void prep_recv_into(io_uring_sqe* s, const Stream& st, int fd, bool fixed, char* dst,
                           uint32_t len, int flags) {
  prep(s, st, fixed, [&](io_uring_sqe* q) { io_uring_prep_recv(q, fd, dst, len, flags); });
}

inline void prep_send(io_uring_sqe* s, const Stream& st, int fd, bool fixed, const char* data,
                      uint32_t len, int flags) {
  prep(s, st, fixed, [&](io_uring_sqe* q) { io_uring_prep_send(q, fd, data, len, flags); });
}

// A gathered send (a lead buffer, then the output buffer). Plain streams only: the lead
// is the backend's receive buffer (zero_copy()).
inline void prep_sendmsg(io_uring_sqe* s, const Stream& st, int fd, bool fixed, const msghdr* m,
                         int flags) {
  prep(s, st, fixed, [&](io_uring_sqe* q) { io_uring_prep_sendmsg(q, fd, m, flags); });
}

inline void prep_connect(io_uring_sqe* s, const Stream& st, int fd, bool fixed,
                         const sockaddr* addr, socklen_t len) {
  prep(s, st, fixed, [&](io_uring_sqe* q) { io_uring_prep_connect(q, fd, addr, len); });
}

}  // namespace ringway::transport
