// The harness's blocking HTTP/1.1 client.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "harness.h"

namespace ringway::integration {
namespace {

constexpr size_t kMaxResponseHead = 1 << 20;

bool IsBodyless(int status, bool head_request) {
  return head_request || status < 200 || status == 204 || status == 304;
}

bool ParseStatusLine(const std::string& line, Response* r) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string::npos || line.compare(0, 5, "HTTP/") != 0) {
    return false;
  }
  r->version = line.substr(0, sp1);
  r->status = std::atoi(line.c_str() + sp1 + 1);
  size_t sp2 = line.find(' ', sp1 + 1);
  r->reason = sp2 == std::string::npos ? "" : line.substr(sp2 + 1);
  return r->status >= 100 && r->status <= 999;
}

// Binds `fd` to the local IPv4 address `ip`, any port.
bool BindTo(int fd, const std::string& ip) {
  sockaddr_in local{};
  local.sin_family = AF_INET;
  if (::inet_pton(AF_INET, ip.c_str(), &local.sin_addr) != 1) {
    errno = EINVAL;
    return false;
  }
  return ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) == 0;
}

}  // namespace

std::string Response::Header(std::string_view name) const {
  const std::string* v = FindHeader(headers, name);
  return v ? *v : std::string();
}

size_t Response::HeaderCount(std::string_view name) const {
  size_t n = 0;
  for (const auto& h : headers) {
    n += IEquals(h.first, name) ? 1 : 0;
  }
  return n;
}

std::string BuildRequest(std::string_view method, std::string_view target,
                         const HeaderList& headers, std::string_view body) {
  std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  if (!FindHeader(headers, "host")) {
    out += "Host: localhost\r\n";
  }
  bool framed = FindHeader(headers, "content-length") || FindHeader(headers, "transfer-encoding");
  if (!framed && (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")) {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  for (const auto& [name, value] : headers) {
    out += name + ": " + value + "\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

Client::Client(int port, int timeout_ms) : port_(port), timeout_ms_(timeout_ms) {}

Client::~Client() { Close(); }

::testing::AssertionResult Client::Connect() {
  Close();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  SetSocketTimeouts(fd, timeout_ms_);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (rcvbuf_ > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof(rcvbuf_));
  }
  if (mss_ > 0) {
    ::setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss_, sizeof(mss_));
  }
  if (!source_ip_.empty() && !BindTo(fd, source_ip_)) {
    connect_errno_ = errno;
    ::close(fd);
    return ::testing::AssertionFailure()
           << "bind to " << source_ip_ << ": " << std::strerror(connect_errno_);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    connect_errno_ = errno;
    ::close(fd);
    return ::testing::AssertionFailure()
           << "connect to 127.0.0.1:" << port_ << ": " << std::strerror(connect_errno_);
  }
  connect_errno_ = 0;
  fd_ = fd;
  reader_ = std::make_unique<SocketReader>(fd_);
  return ::testing::AssertionSuccess();
}

void Client::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  reader_.reset();
}

void Client::SetTimeout(int timeout_ms) {
  timeout_ms_ = timeout_ms;
  if (fd_ >= 0) {
    SetSocketTimeouts(fd_, timeout_ms);
  }
}

void Client::ShutdownWrite() {
  if (fd_ >= 0) {
    ::shutdown(fd_, SHUT_WR);
  }
}

bool Client::Send(std::string_view raw) { return fd_ >= 0 && SendAll(fd_, raw); }

std::optional<Response> Client::Read(bool head_request, const BodySink* sink) {
  if (!reader_) {
    last_status_ = ReadStatus::kError;
    return std::nullopt;
  }
  std::string head;
  last_status_ = reader_->ReadHead(kMaxResponseHead, &head);
  if (last_status_ != ReadStatus::kOk) {
    return std::nullopt;
  }
  ParsedHead parsed;
  Response r;
  if (!ParseHead(head, &parsed) || !ParseStatusLine(parsed.start_line, &r)) {
    last_status_ = ReadStatus::kMalformed;
    return std::nullopt;
  }
  r.headers = std::move(parsed.headers);
  if (IsBodyless(r.status, head_request)) {
    return r;
  }
  BodySink store = [&](std::string_view data) {
    r.body_bytes += data.size();
    if (sink) {
      (*sink)(data);
    } else {
      r.body.append(data);
    }
  };
  last_status_ = reader_->ReadBody(r.headers, /*unframed_to_eof=*/true, store);
  if (last_status_ != ReadStatus::kOk) {
    return std::nullopt;
  }
  return r;
}

std::optional<Response> Client::ReadFinal(bool head_request, const BodySink* sink) {
  for (;;) {
    std::optional<Response> r = Read(head_request, sink);
    if (!r || r->status >= 200) {
      return r;
    }
  }
}

std::optional<Response> Client::Request(std::string_view method, std::string_view target,
                                        const HeaderList& headers, std::string_view body) {
  if (!connected() && !Connect()) {
    last_status_ = ReadStatus::kError;
    return std::nullopt;
  }
  if (!Send(BuildRequest(method, target, headers, body))) {
    last_status_ = ReadStatus::kError;
    return std::nullopt;
  }
  return ReadFinal(method == "HEAD");
}

bool Client::WaitClosed(int timeout_ms, std::string* received) {
  if (!reader_) {
    return true;
  }
  int saved = timeout_ms_;
  SetTimeout(timeout_ms);
  std::string data;
  ReadStatus s = reader_->ReadToEof([&](std::string_view d) { data.append(d); });
  SetTimeout(saved);
  if (received) {
    *received = data;
  }
  return s == ReadStatus::kOk || (s == ReadStatus::kError && (reader_->last_errno() == ECONNRESET));
}

bool Client::Readable() const {
  if (reader_ && reader_->HasBuffered()) {
    return true;
  }
  pollfd pfd{fd_, POLLIN, 0};
  return fd_ >= 0 && ::poll(&pfd, 1, 0) > 0;
}

std::string Client::Peek(size_t n) {
  std::string data(n, '\0');
  ssize_t got = fd_ >= 0 ? ::recv(fd_, data.data(), n, MSG_PEEK) : -1;  // SO_RCVTIMEO bounds it
  data.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return data;
}

std::string Client::ReadUntilEof(int timeout_ms) {
  std::string data;
  WaitClosed(timeout_ms, &data);
  return data;
}

std::optional<Response> HttpGet(int port, std::string_view target, const HeaderList& headers) {
  Client c(port);
  return c.Get(target, headers);
}

}  // namespace ringway::integration
