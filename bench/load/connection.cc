// Worker's per-connection state machine: connect, send a batch of requests, receive and
// parse responses, record them, and reconnect after a close or an error.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "worker.h"

namespace ringway::load {
namespace {

constexpr uint64_t kConnectRetryNs = 10'000'000;  // after a failed connect

}  // namespace

void Worker::open(uint32_t idx) {
  Conn& c = conns_[idx];
  const auto* addr = reinterpret_cast<const sockaddr*>(&opt_.target.addr);
  const int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    stats_.errors[kErrConnect] += recording_ ? 1 : 0;
    c.retry_at = now_ + kConnectRetryNs;
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  c.fd = fd;
  c.st = St::kConnecting;
  c.deadline = now_ + opt_.timeout_ns;
  c.parser.reset(plan_.head_request);
  ++connecting_;
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_connect(s, fd, addr, opt_.target.addr_len);
  io_uring_sqe_set_data64(s, Encode(kOpConnect, c.gen, idx));
}

// Pending operations on the socket end at shutdown(); their completions carry the old
// generation and are dropped (their buffers recycled) by Worker::dispatch.
void Worker::close_conn(Conn& c) {
  if (c.fd >= 0) {
    shutdown(c.fd, SHUT_RDWR);
    close(c.fd);
    c.fd = -1;
  }
  if (c.st == St::kConnecting) {
    --connecting_;
  }
  inflight_ -= c.inflight;
  c.inflight = 0;
  c.sending = false;
  c.recv_armed = false;
  c.deadline = 0;
  c.st = St::kClosed;
  ++c.gen;
}

void Worker::fail(uint32_t idx, ErrorKind kind, uint64_t retry_delay_ns) {
  Conn& c = conns_[idx];
  if (recording_) {
    ++stats_.errors[kind];
  }
  const uint64_t* t = sched(idx);
  for (uint32_t j = c.sched_head; j < c.sched_head + c.inflight; ++j) {
    stats_.lost += counted(t[j]) ? 1 : 0;
  }
  close_conn(c);
  c.retry_at = now_ + retry_delay_ns;  // Worker::scan reopens it
}

void Worker::on_ready(uint32_t idx) {
  Conn& c = conns_[idx];
  if (c.st != St::kOpen || c.inflight != 0 || c.sending) {
    return;
  }
  if (stopping_) {
    if (opt_.close) {
      close_conn(c);
    }
    return;
  }
  if (hold_ && c.served != 0) {
    return;  // hold mode: one request per connection, then idle
  }
  if (const uint32_t k = want(); k != 0) {
    send_batch(idx, k);
  } else if (ns_per_req_ > 0 && !c.idle_listed) {
    c.idle_listed = true;
    idle_.push_back(idx);
  }
}

void Worker::send_batch(uint32_t idx, uint32_t k) {
  Conn& c = conns_[idx];
  uint64_t* t = sched(idx);
  for (uint32_t j = 0; j < k; ++j) {
    t[j] = ns_per_req_ > 0 ? intended(dispatched_ + j) : now_;
    stats_.requests += counted(t[j]) ? 1 : 0;
  }
  dispatched_ += k;
  c.sched_head = 0;
  c.inflight = static_cast<uint16_t>(k);
  inflight_ += k;
  c.send_off = 0;
  c.send_len = static_cast<uint32_t>(k * plan_.request.size());
  c.deadline = now_ + opt_.timeout_ns;
  queue_send(idx);
}

void Worker::queue_send(uint32_t idx) {
  Conn& c = conns_[idx];
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_send(s, c.fd, plan_.batch.data() + c.send_off, c.send_len - c.send_off,
                     MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, Encode(kOpSend, c.gen, idx));
  c.sending = true;
}

void Worker::arm_recv(uint32_t idx) {
  Conn& c = conns_[idx];
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_recv_multishot(s, c.fd, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = bufs_->group();
  io_uring_sqe_set_data64(s, Encode(kOpRecv, c.gen, idx));
  c.recv_armed = true;
}

void Worker::on_connect(uint32_t idx, int res) {
  Conn& c = conns_[idx];
  if (res < 0) {
    fail(idx, kErrConnect, kConnectRetryNs);
    return;
  }
  --connecting_;
  ever_connected_ = true;
  c.st = St::kOpen;
  c.deadline = 0;
  stats_.connects += recording_ ? 1 : 0;
  arm_recv(idx);
  on_ready(idx);
}

void Worker::on_send(uint32_t idx, int res) {
  Conn& c = conns_[idx];
  if (res < 0) {
    fail(idx, kErrReset, 0);
    return;
  }
  stats_.bytes_written += recording_ ? static_cast<uint64_t>(res) : 0;
  c.send_off += static_cast<uint32_t>(res);
  if (c.send_off < c.send_len) {
    queue_send(idx);
    return;
  }
  c.sending = false;
  on_ready(idx);  // acts only if every response has already arrived
}

void Worker::on_recv(uint32_t idx, int res, uint32_t flags) {
  Conn& c = conns_[idx];
  if ((flags & IORING_CQE_F_MORE) == 0) {
    c.recv_armed = false;
  }
  const bool has_buf = (flags & IORING_CQE_F_BUFFER) != 0;
  const auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
  if (res == -ENOBUFS) {
    rearm_.push_back(idx);  // after this turn's buffers are returned
  } else if (res < 0) {
    fail(idx, kErrReset, 0);
  } else if (res == 0) {
    on_eof(idx);
  } else {
    stats_.bytes_read += recording_ ? static_cast<uint64_t>(res) : 0;
    const uint32_t gen = c.gen;
    consume(idx, bufs_->buf(bid), static_cast<size_t>(res));
    if (c.gen == gen && !c.recv_armed) {
      rearm_.push_back(idx);
    }
  }
  if (has_buf) {
    bufs_->recycle(bid);
  }
}

void Worker::consume(uint32_t idx, const char* data, size_t n) {
  Conn& c = conns_[idx];
  const uint32_t gen = c.gen;
  size_t pos = 0;
  while (pos < n && c.gen == gen) {
    if (c.inflight == 0) {
      fail(idx, kErrParse, 0);  // bytes nobody asked for
      return;
    }
    size_t used = 0;
    const ResponseParser::Result r = c.parser.feed(data + pos, n - pos, &used);
    pos += used;
    if (r == ResponseParser::Result::kError) {
      fail(idx, kErrParse, 0);
      return;
    }
    if (r == ResponseParser::Result::kComplete) {
      on_response(idx);
    }
  }
}

void Worker::on_response(uint32_t idx) {
  Conn& c = conns_[idx];
  const uint64_t t = sched(idx)[c.sched_head++];
  --c.inflight;
  --inflight_;
  ++c.served;
  const int status = c.parser.status();
  if (counted(t)) {
    ++stats_.responses;
    stats_.latency.record(now_ - t);
    ++stats_.status_class[status >= 100 && status < 600 ? status / 100 : 0];
    stats_.errors[kErrStatus] += status >= 400 || status < 100 ? 1 : 0;
  }
  const bool close = c.parser.close() || opt_.close;
  c.parser.reset(plan_.head_request);
  c.deadline = c.inflight != 0 ? now_ + opt_.timeout_ns : 0;
  if (!close) {
    on_ready(idx);
  } else if (c.inflight != 0) {
    fail(idx, kErrReset, 0);  // closed with pipelined requests unanswered
  } else {
    close_conn(c);
    if (!stopping_ && !hold_) {
      open(idx);
    }
  }
}

void Worker::on_eof(uint32_t idx) {
  Conn& c = conns_[idx];
  const ResponseParser::Result r = c.parser.eof();
  if (r == ResponseParser::Result::kComplete && c.inflight != 0) {
    on_response(idx);  // a close-delimited body: the response says close
  } else if (r == ResponseParser::Result::kError || c.inflight != 0) {
    fail(idx, kErrReset, 0);
  } else {
    close_conn(c);  // the server closed an idle connection
    if (!stopping_ && !hold_) {
      open(idx);
    }
  }
}

}  // namespace ringway::load
