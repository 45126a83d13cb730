// The admin listener's connections (ringway/admin.h): one accept at a time, then per
// connection a receive of the request head, the answer (admin::answer) sent whole, and
// keep-alive until the client closes, asks to close or stays idle past kIdleMs.
//
// user_data payload (below the owner's tag): [55..52] OpKind, [51..32] slot, [31..0] the
// slot's generation, so a completion for a connection since closed and reused is dropped.
#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "core/ring.h"
#include "ringway/admin.h"
#include "ringway/log.h"

namespace ringway::admin {

struct Server::Conn {
  int fd = -1;
  uint32_t slot = 0;
  uint32_t gen = 0;
  uint32_t pending = 0;  // operations whose completion has not arrived
  bool closing = false;
  bool close_after_send = false;
  uint64_t deadline = UINT64_MAX;
  uint32_t len = 0;  // bytes in `in`
  char in[kMaxHead];
  std::string out;
  size_t sent = 0;
};

namespace {

constexpr int kKindShift = 52;
constexpr int kSlotShift = 32;
constexpr uint64_t kSlotMask = (uint64_t{1} << 20) - 1;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  return v;
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

// A parsed request head: what the admin API needs of it.
struct Head {
  std::string_view method;
  std::string_view target;
  bool keep_alive = true;
  bool has_body = false;
};

// Parses `head` (without its final CRLF CRLF); false when it is not HTTP/1.x.
bool parse_head(std::string_view head, Head* h) {
  const size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 <= sp1) {
    return false;
  }
  h->method = line.substr(0, sp1);
  h->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return false;
  }
  h->keep_alive = version == "HTTP/1.1";
  std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!rest.empty()) {
    const size_t e = rest.find("\r\n");
    std::string_view hl = rest.substr(0, e);
    rest = e == std::string_view::npos ? "" : rest.substr(e + 2);
    const size_t colon = hl.find(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    const std::string_view name = trim(hl.substr(0, colon));
    const std::string_view value = trim(hl.substr(colon + 1));
    if (iequals(name, "connection")) {
      h->keep_alive = iequals(value, "keep-alive") || (h->keep_alive && !iequals(value, "close"));
    } else if (iequals(name, "transfer-encoding") ||
               (iequals(name, "content-length") && value != "0")) {
      h->has_body = true;
    }
  }
  return true;
}

std::string render(const Answer& a, bool head_only, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(a.status) + " " + reason(a.status) + "\r\n";
  out += "content-type: " + a.content_type + "\r\n";
  out += "content-length: " + std::to_string(a.body.size()) + "\r\n";
  out += "cache-control: no-store\r\n";
  out += keep_alive ? "connection: keep-alive\r\n\r\n" : "connection: close\r\n\r\n";
  if (!head_only) {
    out += a.body;
  }
  return out;
}

Answer error_answer(int status, std::string_view message) {
  Answer a;
  a.status = status;
  a.body = "{\"error\":\"" + std::string(message) + "\"}";
  return a;
}

}  // namespace

Server::Server(core::Ring& ring, uint64_t tag, int listen_fd, Sources src)
    : ring_(ring), tag_(tag), listen_fd_(listen_fd), src_(src) {
  arm_accept();
}

Server::~Server() {
  for (auto& c : conns_) {
    if (c && c->fd >= 0) {
      ::close(c->fd);
    }
  }
  ::close(listen_fd_);
}

uint64_t Server::encode(OpKind kind, uint32_t slot, uint32_t gen) const {
  return tag_ | (static_cast<uint64_t>(kind) << kKindShift) |
         ((uint64_t{slot} & kSlotMask) << kSlotShift) | gen;
}

void Server::arm_accept() {
  io_uring_sqe* s = ring_.sqe();
  io_uring_prep_accept(s, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, encode(OpKind::kAccept, 0, 0));
}

void Server::on_completion(uint64_t user_data, int res) {
  const auto kind = static_cast<OpKind>((user_data >> kKindShift) & 0xf);
  if (kind == OpKind::kAccept) {
    on_accept(res);
    return;
  }
  const auto slot = static_cast<uint32_t>((user_data >> kSlotShift) & kSlotMask);
  const auto gen = static_cast<uint32_t>(user_data);
  if (slot >= conns_.size() || !conns_[slot] || conns_[slot]->gen != gen) {
    return;  // a connection since closed
  }
  Conn& c = *conns_[slot];
  --c.pending;
  if (kind == OpKind::kRecv) {
    on_recv(c, res);
  } else if (kind == OpKind::kSend) {
    on_sent(c, res);
  }
  maybe_free(c);
}

void Server::on_accept(int res) {
  if (res < 0) {
    if (res != -ECANCELED) {
      // EMFILE and the like: retried after a pause (expire()), not at once, which would spin.
      RW_WARN("admin: accept: %s: retrying in %llu ms", strerror(-res),
              static_cast<unsigned long long>(kAcceptRetryMs));
      accept_retry_at_ = src_.clock->now_ms() + kAcceptRetryMs;
    }
    return;
  }
  Conn* c = nullptr;
  for (auto& slot : conns_) {
    if (slot && slot->fd < 0) {
      c = slot.get();
      break;
    }
  }
  if (c == nullptr && conns_.size() < kMaxConnections) {
    conns_.push_back(std::make_unique<Conn>());
    c = conns_.back().get();
    c->slot = static_cast<uint32_t>(conns_.size() - 1);
  }
  if (c == nullptr) {
    RW_WARN("admin: %u connections open: closing a new one", kMaxConnections);
    ::close(res);
  } else {
    c->fd = res;
    c->closing = false;
    c->close_after_send = false;
    c->len = 0;
    c->out.clear();
    c->sent = 0;
    c->deadline = src_.clock->now_ms() + kIdleMs;
    arm_recv(*c);
  }
  arm_accept();
}

void Server::arm_recv(Conn& c) {
  io_uring_sqe* s = ring_.sqe();
  io_uring_prep_recv(s, c.fd, c.in + c.len, kMaxHead - c.len, 0);
  io_uring_sqe_set_data64(s, encode(OpKind::kRecv, c.slot, c.gen));
  ++c.pending;
}

void Server::on_recv(Conn& c, int res) {
  if (c.closing) {
    return;
  }
  if (res <= 0) {
    close_conn(c);  // the client closed, or an error
    return;
  }
  c.len += static_cast<uint32_t>(res);
  c.deadline = src_.clock->now_ms() + kIdleMs;
  serve_buffered(c);
}

// Answers the complete head at the front of `in`, or asks for more bytes.
void Server::serve_buffered(Conn& c) {
  const std::string_view buf(c.in, c.len);
  const size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (c.len == kMaxHead) {
      c.out = render(error_answer(431, "request head too large"), false, false);
      c.close_after_send = true;
      arm_send(c);
    } else {
      arm_recv(c);
    }
    return;
  }
  Head h;
  Answer a;
  if (!parse_head(buf.substr(0, end), &h)) {
    a = error_answer(400, "bad request");
    h.keep_alive = false;
  } else if (h.has_body) {
    a = error_answer(400, "the admin API takes no request body");
    h.keep_alive = false;
  } else {
    a = answer(h.method, h.target, src_);
  }
  c.out = render(a, h.method == "HEAD", h.keep_alive);
  c.close_after_send = !h.keep_alive;
  const size_t used = end + 4;
  std::memmove(c.in, c.in + used, c.len - used);
  c.len -= static_cast<uint32_t>(used);
  arm_send(c);
}

void Server::arm_send(Conn& c) {
  io_uring_sqe* s = ring_.sqe();
  io_uring_prep_send(s, c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, encode(OpKind::kSend, c.slot, c.gen));
  ++c.pending;
}

void Server::on_sent(Conn& c, int res) {
  if (c.closing) {
    return;
  }
  if (res < 0) {
    close_conn(c);
    return;
  }
  c.sent += static_cast<size_t>(res);
  if (c.sent < c.out.size()) {
    arm_send(c);  // a short send: the rest
    return;
  }
  c.out.clear();
  c.sent = 0;
  if (c.close_after_send) {
    close_conn(c);
    return;
  }
  c.deadline = src_.clock->now_ms() + kIdleMs;
  serve_buffered(c);  // a pipelined request may be waiting
}

void Server::close_conn(Conn& c) {
  if (c.closing) {
    return;
  }
  c.closing = true;
  if (c.pending > 0) {
    io_uring_sqe* s = ring_.sqe();
    io_uring_prep_cancel_fd(s, c.fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(s, encode(OpKind::kCancel, c.slot, c.gen));
    ++c.pending;
  }
  maybe_free(c);
}

void Server::maybe_free(Conn& c) {
  if (!c.closing || c.pending > 0 || c.fd < 0) {
    return;
  }
  ::close(c.fd);
  c.fd = -1;
  ++c.gen;
  c.out.clear();
  c.out.shrink_to_fit();
  c.deadline = UINT64_MAX;
}

uint64_t Server::next_deadline() const {
  uint64_t d = accept_retry_at_;
  for (const auto& c : conns_) {
    if (c && c->fd >= 0 && !c->closing) {
      d = std::min(d, c->deadline);
    }
  }
  return d;
}

void Server::expire(uint64_t now_ms) {
  if (accept_retry_at_ <= now_ms) {
    accept_retry_at_ = UINT64_MAX;
    arm_accept();
  }
  for (auto& c : conns_) {
    if (c && c->fd >= 0 && !c->closing && c->deadline <= now_ms) {
      close_conn(*c);
    }
  }
}

}  // namespace ringway::admin
