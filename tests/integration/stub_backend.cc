// stub_backend: a small HTTP/1.1 origin for the integration tests.
//
//   stub_backend --listen 127.0.0.1:0 --name NAME [--reset-all] [--delay-ms MS]
//
// --reset-all: every request is read and logged, then its connection is reset (a member
// that fails everything). --delay-ms: every request waits MS before it is handled (a slow
// member).
//
// Prints "port=<N>" on stdout once listening, then one line per request:
// "req conn=<id> <METHOD> <target>". One thread per connection, keep-alive, pipelining,
// Content-Length and chunked request bodies (streamed into a checksum, constant memory).
// The handler is chosen by the first path segment that names one (so a gateway may add a
// prefix): status/<code>, delay/<ms>, bytes/<n>, chunked/<n>, close/<n>, reset, sink,
// headers, bighead/<n> (one response header of n bytes), bye (answer with Connection: close), ghost
// (answer keep-alive, then close), truncate/<n> (Content-Length n, half the body, then close),
// drip/<n> (Content-Length n, the body in 8 pieces 5 ms apart); anything else echoes the request as
// JSON.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "wire.h"

namespace ringway::integration {
namespace {

constexpr size_t kMaxHead = 1 << 20;
constexpr size_t kChunkSize = 16 * 1024;
constexpr int kIdleTimeoutMs = 300 * 1000;

std::string g_name = "stub";
bool g_reset_all = false;
uint64_t g_delay_ms = 0;
std::mutex g_stdout_mu;

struct Request {
  uint64_t conn_id = 0;
  std::string method;
  std::string target;
  std::string version;
  HeaderList headers;
  uint64_t body_bytes = 0;
  std::string body_fnv;
  bool keep_alive = true;
  bool head() const { return method == "HEAD"; }
};

// One write(2) per line, so a reader of the pipe never sees half a line.
void PrintLine(const std::string& line) {
  std::string out = line + "\n";
  std::lock_guard<std::mutex> lock(g_stdout_mu);
  (void)!::write(STDOUT_FILENO, out.data(), out.size());
}

std::string JsonEscape(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Lowercased names; repeated headers joined with ", ".
std::string HeadersJson(const HeaderList& headers) {
  HeaderList merged;
  for (const auto& [name, value] : headers) {
    std::string lower = ToLower(name);
    auto it =
        std::find_if(merged.begin(), merged.end(), [&](const auto& h) { return h.first == lower; });
    if (it == merged.end()) {
      merged.emplace_back(lower, value);
    } else {
      it->second += ", " + value;
    }
  }
  std::string out = "{";
  for (const auto& [name, value] : merged) {
    out += (out.size() > 1 ? "," : "") + JsonEscape(name) + ":" + JsonEscape(value);
  }
  return out + "}";
}

std::string EchoJson(const Request& req) {
  return "{\"server\":" + JsonEscape(g_name) + ",\"conn\":" + std::to_string(req.conn_id) +
         ",\"method\":" + JsonEscape(req.method) + ",\"target\":" + JsonEscape(req.target) +
         ",\"version\":" + JsonEscape(req.version) + ",\"headers\":" + HeadersJson(req.headers) +
         ",\"body_length\":" + std::to_string(req.body_bytes) + ",\"body_fnv\":\"" + req.body_fnv +
         "\"}";
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 404:
      return "Not Found";
    default:
      return "Status";
  }
}

std::string StatusLine(int status) {
  return "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) + "\r\n";
}

// A complete response with a Content-Length body (the body is left out for HEAD).
bool SendSimple(int fd, const Request& req, int status, std::string_view content_type,
                std::string_view body, std::string_view extra_headers = "") {
  std::string out =
      StatusLine(status) + "Server: stub\r\nContent-Type: " + std::string(content_type) +
      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra_headers);
  if (!req.keep_alive) {
    out += "Connection: close\r\n";
  }
  out += "\r\n";
  if (!req.head()) {
    out += body;
  }
  return SendAll(fd, out);
}

// The head of a 200 with an octet-stream body of Content-Length `n`.
std::string OctetHead(uint64_t n) {
  return StatusLine(200) + "Content-Type: application/octet-stream\r\n" +
         "Content-Length: " + std::to_string(n) + "\r\n\r\n";
}

// Sends `len` pattern bytes starting at absolute offset `offset`.
bool SendPattern(int fd, uint64_t offset, uint64_t len) {
  for (uint64_t sent = 0; sent < len;) {
    std::string_view slice = PatternSlice(offset + sent, static_cast<size_t>(len - sent));
    if (!SendAll(fd, slice)) {
      return false;
    }
    sent += slice.size();
  }
  return true;
}

bool HandleStatus(int fd, const Request& req, int status) {
  if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
    std::string out = StatusLine(status) + "Server: stub\r\n\r\n";
    return SendAll(fd, out);
  }
  return SendSimple(fd, req, status, "text/plain", "status " + std::to_string(status) + "\n");
}

bool HandleBytes(int fd, const Request& req, uint64_t n) {
  if (req.head() || n > (256u << 10)) {
    return SendAll(fd, OctetHead(n)) && (req.head() || SendPattern(fd, 0, n));
  }
  // Head and body in one write, as a file server does: the gateway usually has the whole
  // response before its first send to the client.
  return SendAll(fd, OctetHead(n) + PatternBytes(0, static_cast<size_t>(n)));
}

// Content-Length `n`, but only the first half of the body before the connection closes.
bool HandleTruncate(int fd, uint64_t n) {
  SendAll(fd, OctetHead(n)) && SendPattern(fd, 0, n / 2);
  return false;
}

// A Content-Length body written in 8 pieces with pauses: the gateway sees partial bodies.
bool HandleDrip(int fd, const Request& req, uint64_t n) {
  if (!SendAll(fd, OctetHead(n))) {
    return false;
  }
  uint64_t piece = n / 8 + 1;
  for (uint64_t off = 0; off < n && !req.head(); off += piece) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!SendPattern(fd, off, std::min(piece, n - off))) {
      return false;
    }
  }
  return true;
}

bool HandleChunked(int fd, const Request& req, uint64_t n) {
  std::string head = StatusLine(200) +
                     "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  if (!SendAll(fd, head)) {
    return false;
  }
  if (req.head()) {
    return true;
  }
  for (uint64_t off = 0; off < n;) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(n - off, kChunkSize));
    char size_line[32];
    std::snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
    if (!SendAll(fd, size_line) || !SendPattern(fd, off, len) || !SendAll(fd, "\r\n")) {
      return false;
    }
    off += len;
  }
  return SendAll(fd, "0\r\n\r\n");
}

// Close-delimited: neither Content-Length nor chunked; the end of the body is the close.
bool HandleClose(int fd, uint64_t n) {
  std::string head =
      StatusLine(200) + "Content-Type: application/octet-stream\r\n" + "Connection: close\r\n\r\n";
  if (SendAll(fd, head)) {
    SendPattern(fd, 0, n);
  }
  return false;
}

bool HandleReset(int fd) {
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  return false;  // the caller closes: RST because of the zero linger
}

bool HandleHopByHop(int fd, const Request& req) {
  static constexpr std::string_view kHopHeaders =
      "Connection: keep-alive, X-Foo\r\n"
      "X-Foo: must-not-pass\r\n"
      "Keep-Alive: timeout=30\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "Upgrade: h2c\r\n"
      "Trailer: X-Trailer\r\n"
      "X-End-To-End: kept\r\n";
  return SendSimple(fd, req, 200, "application/json", EchoJson(req), kHopHeaders);
}

uint64_t Arg(std::string_view s) { return std::strtoull(std::string(s).c_str(), nullptr, 10); }

// Picks the handler from the first path segment that names one. False: close the
// connection (the caller also closes it when the request is not keep-alive).
bool Dispatch(int fd, Request& req) {
  if (g_reset_all) {
    return HandleReset(fd);
  }
  if (g_delay_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(g_delay_ms));
  }
  std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  std::vector<std::string_view> segs;
  for (size_t pos = 0; pos < path.size();) {
    size_t next = path.find('/', pos);
    next = next == std::string_view::npos ? path.size() : next;
    if (next > pos) {
      segs.push_back(path.substr(pos, next - pos));
    }
    pos = next + 1;
  }
  for (size_t i = 0; i < segs.size(); ++i) {
    std::string_view key = segs[i];
    std::string_view arg = i + 1 < segs.size() ? segs[i + 1] : "";
    if (key == "status") {
      return HandleStatus(fd, req, static_cast<int>(Arg(arg)));
    } else if (key == "delay") {
      std::this_thread::sleep_for(std::chrono::milliseconds(Arg(arg)));
      break;
    } else if (key == "bytes") {
      return HandleBytes(fd, req, Arg(arg));
    } else if (key == "truncate") {
      return HandleTruncate(fd, Arg(arg));
    } else if (key == "drip") {
      return HandleDrip(fd, req, Arg(arg));
    } else if (key == "chunked") {
      return HandleChunked(fd, req, Arg(arg));
    } else if (key == "close") {
      return HandleClose(fd, Arg(arg));
    } else if (key == "reset") {
      return HandleReset(fd);
    } else if (key == "sink") {
      std::string body =
          "{\"bytes\":" + std::to_string(req.body_bytes) + ",\"fnv\":\"" + req.body_fnv + "\"}";
      return SendSimple(fd, req, 200, "application/json", body);
    } else if (key == "bighead") {  // a response head with one header of n bytes
      std::string big = "X-Big: " + std::string(Arg(arg), 'h') + "\r\n";
      return SendSimple(fd, req, 200, "application/json", EchoJson(req), big);
    } else if (key == "headers") {
      return HandleHopByHop(fd, req);
    } else if (key == "ghost") {  // keep-alive answer, then close the connection anyway
      SendSimple(fd, req, 200, "application/json", EchoJson(req));
      return false;
    } else if (key == "bye") {
      req.keep_alive = false;
      break;
    }
  }
  return SendSimple(fd, req, 200, "application/json", EchoJson(req));
}

bool ParseRequestHead(const std::string& head, uint64_t conn_id, Request* req) {
  ParsedHead parsed;
  if (!ParseHead(head, &parsed)) {
    return false;
  }
  size_t sp1 = parsed.start_line.find(' ');
  size_t sp2 = parsed.start_line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) {
    return false;
  }
  req->conn_id = conn_id;
  req->method = parsed.start_line.substr(0, sp1);
  req->target = parsed.start_line.substr(sp1 + 1, sp2 - sp1 - 1);
  req->version = parsed.start_line.substr(sp2 + 1);
  req->headers = std::move(parsed.headers);
  const std::string* conn = FindHeader(req->headers, "connection");
  req->keep_alive = req->version == "HTTP/1.1" && !(conn && HasToken(*conn, "close"));
  return true;
}

// Streams the request body into the checksum; sends 100 Continue first when asked.
bool ReadBody(int fd, SocketReader& reader, Request* req) {
  const std::string* expect = FindHeader(req->headers, "expect");
  if (expect && IEquals(*expect, "100-continue") && !SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) {
    return false;
  }
  Fnv1a fnv;
  BodySink sink = [&](std::string_view data) {
    fnv.Update(data);
    req->body_bytes += data.size();
  };
  ReadStatus s = reader.ReadBody(req->headers, /*unframed_to_eof=*/false, sink);
  req->body_fnv = fnv.Hex();
  return s == ReadStatus::kOk;
}

void ServeConnection(int fd, uint64_t conn_id) {
  SetSocketTimeouts(fd, kIdleTimeoutMs);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  SocketReader reader(fd);
  for (;;) {
    std::string head;
    Request req;
    if (reader.ReadHead(kMaxHead, &head) != ReadStatus::kOk) {
      break;
    }
    if (!ParseRequestHead(head, conn_id, &req)) {
      req.keep_alive = false;
      SendSimple(fd, req, 400, "text/plain", "bad request\n");
      break;
    }
    PrintLine("req conn=" + std::to_string(conn_id) + " " + req.method + " " + req.target);
    if (!ReadBody(fd, reader, &req) || !Dispatch(fd, req) || !req.keep_alive) {
      break;
    }
  }
  ::close(fd);
}

bool ParseListen(const std::string& spec, sockaddr_in* addr) {
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos) {
    return false;
  }
  *addr = {};
  addr->sin_family = AF_INET;
  addr->sin_port = htons(static_cast<uint16_t>(std::atoi(spec.c_str() + colon + 1)));
  return ::inet_pton(AF_INET, spec.substr(0, colon).c_str(), &addr->sin_addr) == 1;
}

int Listen(const std::string& spec) {
  sockaddr_in addr;
  if (!ParseListen(spec, &addr)) {
    std::fprintf(stderr, "stub_backend: bad --listen %s\n", spec.c_str());
    return -1;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 1024) != 0) {
    std::perror("stub_backend: bind/listen");
    return -1;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  PrintLine("port=" + std::to_string(ntohs(addr.sin_port)));
  return fd;
}

int Main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (flag == "--reset-all") {
      g_reset_all = true;
    } else if (flag == "--listen" && value) {
      listen = argv[++i];
    } else if (flag == "--name" && value) {
      g_name = argv[++i];
    } else if (flag == "--delay-ms" && value) {
      g_delay_ms = Arg(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: stub_backend --listen HOST:PORT --name NAME [--reset-all] "
                   "[--delay-ms MS]\n");
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  int lfd = Listen(listen);
  if (lfd < 0) {
    return 1;
  }
  for (uint64_t conn_id = 1;; ++conn_id) {
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) {
        continue;
      }
      std::perror("stub_backend: accept");
      return 1;
    }
    std::thread(ServeConnection, fd, conn_id).detach();
  }
}

}  // namespace
}  // namespace ringway::integration

int main(int argc, char** argv) { return ringway::integration::Main(argc, argv); }
