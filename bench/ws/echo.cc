// ringway-ws-echo: a WebSocket (RFC 6455) echo server on 127.0.0.1 for the WebSocket
// benchmark (bench/ws-compare, bench/README.md). One thread, level-triggered epoll.
//
//   ringway-ws-echo [--port P] [--max-payload BYTES]
//
// Port 0 (the default) picks a free one. Prints `listening PORT` on stdout once it accepts.
// Answers the HTTP/1.1 upgrade (GET, `Upgrade: websocket`, `Connection: upgrade`,
// `Sec-WebSocket-Version: 13`, a Sec-WebSocket-Key) with 101 and the Sec-WebSocket-Accept
// value, anything else with 400 and a close. Then echoes every data frame back unmasked
// with its opcode and FIN bit (so fragmented messages come back fragmented the same way),
// answers ping with pong, ignores pong, answers close with close (same status code) and
// closes the connection. Client frames must be masked (else close 1002); a frame longer
// than --max-payload (default 1 MiB) gets close 1009.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ws.h"

namespace ringway::ws {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxHead = 8192;
constexpr size_t kOutHighWater = 4 * 1024 * 1024;  // stop reading while this much is unsent

struct Conn {
  int fd = -1;
  bool upgraded = false;
  bool close_sent = false;  // a close frame (or an HTTP error) is queued: no more input
  bool shut = false;        // SHUT_WR done after the last byte; waiting for the peer's EOF
  uint32_t events = 0;      // current epoll interest
  Buffer in;
  Buffer out;
};

struct Server {
  int ep = -1;
  int lfd = -1;
  uint64_t max_payload = 1 << 20;
  std::vector<std::unique_ptr<Conn>> conns;  // by fd
};

void CloseConn(Server& s, Conn* c) {
  epoll_ctl(s.ep, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  s.conns[static_cast<size_t>(c->fd)].reset();
}

void SetInterest(Server& s, Conn* c) {
  uint32_t ev = 0;
  if (!c->close_sent && c->out.size() < kOutHighWater) {
    ev |= EPOLLIN;
  }
  if (c->shut) {
    ev |= EPOLLIN;  // the peer's EOF
  }
  if (!c->out.empty()) {
    ev |= EPOLLOUT;
  }
  if (ev != c->events) {
    epoll_event e{};
    e.events = ev;
    e.data.fd = c->fd;
    epoll_ctl(s.ep, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
  }
}

// Sends what is queued. False: the connection is gone.
bool Flush(Server& s, Conn* c) {
  while (!c->out.empty()) {
    const ssize_t n = send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c->out.consume(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    }
    CloseConn(s, c);
    return false;
  }
  if (c->out.empty() && c->close_sent && !c->shut) {
    shutdown(c->fd, SHUT_WR);
    c->shut = true;
  }
  SetInterest(s, c);
  return true;
}

void QueueFrame(Conn* c, uint8_t opcode, const uint8_t* payload, size_t len, bool fin = true) {
  uint8_t h[kMaxHeader];
  const size_t hl = WriteHeader(h, opcode, len, nullptr, fin);
  c->out.append(h, hl);
  if (len > 0) {
    c->out.append(payload, len);
  }
}

void QueueClose(Conn* c, uint16_t code) {
  const uint8_t p[2] = {static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code)};
  QueueFrame(c, kOpClose, p, 2);
  c->close_sent = true;
}

void HttpError(Conn* c, const char* status) {
  std::string r = "HTTP/1.1 ";
  r += status;
  r += "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  c->out.append(r.data(), r.size());
  c->close_sent = true;
}

// The upgrade request in c->in. Returns bytes consumed, 0 when the head is incomplete.
size_t Handshake(Conn* c) {
  const std::string_view data(reinterpret_cast<const char*>(c->in.data()), c->in.size());
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() > kMaxHead) {
      HttpError(c, "431 Request Header Fields Too Large");
      return data.size();
    }
    return 0;
  }
  const std::string_view head = data.substr(0, end + 2);
  const std::string_view line = head.substr(0, head.find("\r\n"));
  const std::string_view key = HeaderValue(head, "sec-websocket-key");
  if (line.substr(0, 4) != "GET " || line.size() < 13 ||
      line.substr(line.size() - 9) != " HTTP/1.1") {
    HttpError(c, "400 Bad Request");
  } else if (!HasToken(HeaderValue(head, "upgrade"), "websocket") ||
             !HasToken(HeaderValue(head, "connection"), "upgrade") || key.empty()) {
    HttpError(c, "400 Bad Request");
  } else if (HeaderValue(head, "sec-websocket-version") != "13") {
    HttpError(c, "426 Upgrade Required\r\nSec-WebSocket-Version: 13");
  } else {
    std::string r =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: ";
    r += AcceptFor(key);
    r += "\r\n\r\n";
    c->out.append(r.data(), r.size());
    c->upgraded = true;
  }
  return end + 4;
}

// Frames in c->in: echo, pong, close. Returns the bytes consumed; *need is set to the
// size of the frame that is not complete yet (0 when unknown).
size_t Frames(Server& s, Conn* c, size_t* need) {
  uint8_t* p = c->in.data();
  const size_t n = c->in.size();
  size_t off = 0;
  *need = 0;
  while (off < n && !c->close_sent) {
    FrameHeader h;
    const int r = ParseHeader(p + off, n - off, &h);
    if (r == 0) {
      break;
    }
    if (r < 0 || !h.masked || h.rsv != 0 || (h.opcode > 2 && h.opcode < 8) || h.opcode > 10) {
      QueueClose(c, 1002);
      return n;
    }
    if (h.length > s.max_payload) {
      QueueClose(c, 1009);
      return n;
    }
    const size_t total = h.header_len + static_cast<size_t>(h.length);
    if (n - off < total) {
      *need = total;
      break;
    }
    uint8_t* payload = p + off + h.header_len;
    const auto len = static_cast<size_t>(h.length);
    ApplyMask(payload, len, h.mask);
    switch (h.opcode) {
      case kOpPing:
        QueueFrame(c, kOpPong, payload, len);
        break;
      case kOpPong:
        break;
      case kOpClose:
        if (len >= 2) {
          QueueFrame(c, kOpClose, payload, 2);
        } else {
          QueueFrame(c, kOpClose, nullptr, 0);
        }
        c->close_sent = true;
        break;
      default:  // text, binary, continuation: back as they came
        QueueFrame(c, h.opcode, payload, len, h.fin);
        break;
    }
    off += total;
  }
  return off;
}

void OnReadable(Server& s, Conn* c) {
  for (;;) {
    if (c->shut) {  // close handshake done: drain until the peer's EOF
      uint8_t sink[4096];
      const ssize_t n = recv(c->fd, sink, sizeof sink, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        CloseConn(s, c);
      }
      return;
    }
    uint8_t* dst = c->in.tail(kReadChunk);
    const size_t want = c->in.tail_room();
    const ssize_t n = recv(c->fd, dst, want, 0);
    if (n == 0) {
      CloseConn(s, c);
      return;
    }
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        CloseConn(s, c);
      }
      return;
    }
    c->in.commit(static_cast<size_t>(n));
    bool more = true;
    while (more && !c->in.empty() && !c->close_sent) {
      more = false;
      if (!c->upgraded) {
        const size_t used = Handshake(c);
        c->in.consume(used);
        more = used > 0;
      } else {
        size_t need = 0;
        c->in.consume(Frames(s, c, &need));
        if (need > 0) {
          c->in.tail(need - c->in.size());  // room for the rest of a large frame
        }
      }
    }
    if (c->close_sent) {
      c->in.clear();
    }
    if (!Flush(s, c)) {
      return;
    }
    // A full read may have left more in the socket; level-triggered epoll reports it again,
    // but reading on now saves a wake-up for large frames.
    if (static_cast<size_t>(n) < want || c->close_sent || c->out.size() >= kOutHighWater) {
      return;
    }
  }
}

void OnAccept(Server& s) {
  for (;;) {
    const int fd = accept4(s.lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        perror("ringway-ws-echo: accept");
      }
      return;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (s.conns.size() <= static_cast<size_t>(fd)) {
      s.conns.resize(static_cast<size_t>(fd) + 1);
    }
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->events = EPOLLIN;
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = fd;
    if (epoll_ctl(s.ep, EPOLL_CTL_ADD, fd, &e) != 0) {
      close(fd);
      continue;
    }
    s.conns[static_cast<size_t>(fd)] = std::move(c);
  }
}

int Usage(FILE* f) {
  fprintf(f,
          "usage: ringway-ws-echo [--port P] [--max-payload BYTES]\n"
          "A WebSocket echo server on 127.0.0.1:P (0: a free port); prints `listening PORT`.\n");
  return f == stdout ? 0 : 2;
}

int Main(int argc, char** argv) {
  long port = 0;
  Server s;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if ((a == "--port" || a == "-p") && i + 1 < argc) {
      port = strtol(argv[++i], nullptr, 10);
    } else if (a == "--max-payload" && i + 1 < argc) {
      s.max_payload = strtoull(argv[++i], nullptr, 10);
    } else if (a == "-h" || a == "--help") {
      return Usage(stdout);
    } else if (!a.empty() && a[0] != '-') {
      port = strtol(argv[i], nullptr, 10);
    } else {
      return Usage(stderr);
    }
  }
  if (port < 0 || port > 65535) {
    fprintf(stderr, "ringway-ws-echo: bad port %ld\n", port);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(s.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s.lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(s.lfd, 4096) != 0) {
    fprintf(stderr, "ringway-ws-echo: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(s.lfd, reinterpret_cast<sockaddr*>(&addr), &alen);
  s.ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event le{};
  le.events = EPOLLIN;
  le.data.fd = s.lfd;
  epoll_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, &le);
  printf("listening %u\n", ntohs(addr.sin_port));
  fflush(stdout);

  epoll_event events[256];
  for (;;) {
    const int n = epoll_wait(s.ep, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      perror("ringway-ws-echo: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == s.lfd) {
        OnAccept(s);
        continue;
      }
      if (static_cast<size_t>(fd) >= s.conns.size() || !s.conns[static_cast<size_t>(fd)]) {
        continue;
      }
      Conn* c = s.conns[static_cast<size_t>(fd)].get();
      const uint32_t ev = events[i].events;
      if ((ev & EPOLLOUT) != 0 && !Flush(s, c)) {
        continue;
      }
      if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
        OnReadable(s, c);
      }
    }
  }
}

}  // namespace
}  // namespace ringway::ws

int main(int argc, char** argv) { return ringway::ws::Main(argc, argv); }
