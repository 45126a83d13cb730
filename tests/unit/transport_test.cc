// Unit tests for src/transport: what each prep_* puts in an SQE for a plain stream, and
// which streams may share buffers (zero_copy).
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

#include "transport/transport.h"

namespace ringway::transport {
namespace {

io_uring_sqe Blank() {
  io_uring_sqe s;
  std::memset(&s, 0, sizeof(s));
  return s;
}

TEST(Transport, PlainReceiveSelectsAProvidedBuffer) {
  io_uring_sqe s = Blank();
  prep_recv(&s, Stream{}, 7, true, 16384, 3, true);
  EXPECT_EQ(s.opcode, IORING_OP_RECV);
  EXPECT_EQ(s.fd, 7);
  EXPECT_EQ(s.len, 16384u);
  EXPECT_EQ(s.addr, 0u);
  EXPECT_TRUE(s.flags & IOSQE_BUFFER_SELECT);
  EXPECT_TRUE(s.flags & IOSQE_FIXED_FILE);
  EXPECT_EQ(s.buf_group, 3);
  EXPECT_TRUE(s.ioprio & IORING_RECVSEND_POLL_FIRST);
  io_uring_sqe t = Blank();
  prep_recv(&t, Stream{}, 7, false, 100, 0, false);
  EXPECT_FALSE(t.flags & IOSQE_FIXED_FILE);
  EXPECT_FALSE(t.ioprio & IORING_RECVSEND_POLL_FIRST);
}

TEST(Transport, PlainSendsAndReceivesUseTheCallersBytes) {
  char buf[32];
  io_uring_sqe s = Blank();
  prep_send(&s, Stream{}, 5, false, buf, sizeof(buf), MSG_NOSIGNAL);
  EXPECT_EQ(s.opcode, IORING_OP_SEND);
  EXPECT_EQ(s.addr, reinterpret_cast<uint64_t>(buf));
  EXPECT_EQ(s.len, sizeof(buf));
  EXPECT_EQ(s.msg_flags, static_cast<uint32_t>(MSG_NOSIGNAL));
  io_uring_sqe r = Blank();
  prep_recv_into(&r, Stream{}, 5, true, buf, 10, MSG_DONTWAIT);
  EXPECT_EQ(r.opcode, IORING_OP_RECV);
  EXPECT_EQ(r.addr, reinterpret_cast<uint64_t>(buf));
  EXPECT_FALSE(r.flags & IOSQE_BUFFER_SELECT);
  EXPECT_TRUE(r.flags & IOSQE_FIXED_FILE);
  msghdr m{};
  io_uring_sqe g = Blank();
  prep_sendmsg(&g, Stream{}, 5, false, &m, 0);
  EXPECT_EQ(g.opcode, IORING_OP_SENDMSG);
  sockaddr_in a{};
  io_uring_sqe c = Blank();
  prep_connect(&c, Stream{}, 9, true, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  EXPECT_EQ(c.opcode, IORING_OP_CONNECT);
  EXPECT_TRUE(c.flags & IOSQE_FIXED_FILE);
}

TEST(Transport, ZeroCopyNeedsBothStreamsPlain) {
  EXPECT_TRUE(zero_copy(Stream{}, Stream{}));
  EXPECT_TRUE(Stream{}.plain());
  Stream tls{Kind::kTls, nullptr};
  EXPECT_FALSE(tls.plain());
  EXPECT_FALSE(zero_copy(tls, Stream{}));  // one side's buffers hold ciphertext
  EXPECT_FALSE(zero_copy(Stream{}, tls));
  EXPECT_FALSE(zero_copy(tls, tls));
}

TEST(Transport, TlsStreamsUseTheSameSocketOps) {
  Stream tls{Kind::kTls, nullptr};
  io_uring_sqe s = Blank();
  prep_recv(&s, tls, 7, false, 4096, 3, false);
  EXPECT_EQ(s.opcode, IORING_OP_RECV);
  EXPECT_TRUE(s.flags & IOSQE_BUFFER_SELECT);  // ciphertext into a provided buffer
  char buf[8];
  io_uring_sqe t = Blank();
  prep_send(&t, tls, 7, false, buf, sizeof(buf), 0);
  EXPECT_EQ(t.opcode, IORING_OP_SEND);
}

}  // namespace
}  // namespace ringway::transport
