#include "wire.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ringway::integration {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxChunkLine = 4096;

// kPatternSlice + 26 pattern bytes, so a slice may start at any phase.
const std::string& PatternBuffer() {
  static const std::string buf = [] {
    std::string s(kPatternSlice + 26, '\0');
    for (size_t i = 0; i < s.size(); ++i) {
      s[i] = static_cast<char>('a' + i % 26);
    }
    return s;
  }();
  return buf;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

void Fnv1a::Update(std::string_view data) {
  uint64_t h = hash_;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  hash_ = h;
}

std::string Fnv1a::Hex() const {
  char out[17];
  std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(hash_));
  return out;
}

std::string Fnv1aHex(std::string_view data) {
  Fnv1a f;
  f.Update(data);
  return f.Hex();
}

std::string_view PatternSlice(uint64_t offset, size_t max_len) {
  return std::string_view(PatternBuffer()).substr(offset % 26, std::min(max_len, kPatternSlice));
}

std::string PatternBytes(uint64_t offset, size_t len) {
  std::string out;
  out.reserve(len);
  while (out.size() < len) {
    out.append(PatternSlice(offset + out.size(), len - out.size()));
  }
  return out;
}

bool MatchesPattern(uint64_t offset, std::string_view data) {
  while (!data.empty()) {
    std::string_view want = PatternSlice(offset, data.size());
    if (data.substr(0, want.size()) != want) {
      return false;
    }
    data.remove_prefix(want.size());
    offset += want.size();
  }
  return true;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ToLower(a) == ToLower(b);
}

const std::string* FindHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (IEquals(n, name)) {
      return &v;
    }
  }
  return nullptr;
}

bool HasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = TrimSpaces(list.substr(0, comma));
    if (IEquals(item, token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool ParseHead(std::string_view head, ParsedHead* out) {
  size_t eol = head.find("\r\n");
  out->start_line = std::string(head.substr(0, eol));
  out->headers.clear();
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    out->headers.emplace_back(std::string(line.substr(0, colon)),
                              std::string(TrimSpaces(line.substr(colon + 1))));
  }
  return true;
}

const char* ToString(ReadStatus s) {
  switch (s) {
    case ReadStatus::kOk:
      return "ok";
    case ReadStatus::kEof:
      return "eof";
    case ReadStatus::kTimeout:
      return "timeout";
    case ReadStatus::kError:
      return "error";
    case ReadStatus::kMalformed:
      return "malformed";
    case ReadStatus::kTooLarge:
      return "too large";
  }
  return "?";
}

SocketReader::SocketReader(int fd) : fd_(fd), buf_(kReadChunk) {}

ReadStatus SocketReader::Fill() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (end_ == buf_.size()) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (end_ == buf_.size()) {
      buf_.resize(buf_.size() * 2);
    }
  }
  for (;;) {
    ssize_t n = ::recv(fd_, buf_.data() + end_, buf_.size() - end_, 0);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return ReadStatus::kOk;
    }
    if (n == 0) {
      return ReadStatus::kEof;
    }
    if (errno == EINTR) {
      continue;
    }
    last_errno_ = errno;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? ReadStatus::kTimeout : ReadStatus::kError;
  }
}

ReadStatus SocketReader::ReadUntil(std::string_view delim, size_t max_bytes, std::string* out) {
  size_t scanned = 0;
  for (;;) {
    std::string_view avail(buf_.data() + begin_, end_ - begin_);
    size_t pos = avail.find(delim, scanned);
    if (pos != std::string_view::npos) {
      out->assign(avail.substr(0, pos));
      begin_ += pos + delim.size();
      return ReadStatus::kOk;
    }
    if (avail.size() > max_bytes) {
      return ReadStatus::kTooLarge;
    }
    scanned = avail.size() < delim.size() ? 0 : avail.size() - delim.size() + 1;
    ReadStatus s = Fill();
    if (s != ReadStatus::kOk) {
      return s;
    }
  }
}

ReadStatus SocketReader::ReadFixed(uint64_t len, const BodySink& sink) {
  while (len > 0) {
    if (begin_ == end_) {
      ReadStatus s = Fill();
      if (s != ReadStatus::kOk) {
        return s;
      }
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(len, end_ - begin_));
    sink(std::string_view(buf_.data() + begin_, take));
    begin_ += take;
    len -= take;
  }
  return ReadStatus::kOk;
}

ReadStatus SocketReader::ReadChunked(const BodySink& sink) {
  std::string line;
  for (;;) {
    ReadStatus s = ReadUntil("\r\n", kMaxChunkLine, &line);
    if (s != ReadStatus::kOk) {
      return s;
    }
    char* end = nullptr;
    uint64_t size = std::strtoull(line.c_str(), &end, 16);
    if (end == line.c_str()) {
      return ReadStatus::kMalformed;
    }
    if (size == 0) {
      break;
    }
    if ((s = ReadFixed(size, sink)) != ReadStatus::kOk ||
        (s = ReadUntil("\r\n", kMaxChunkLine, &line)) != ReadStatus::kOk) {
      return s;
    }
    if (!line.empty()) {
      return ReadStatus::kMalformed;
    }
  }
  do {  // trailers up to the empty line
    ReadStatus s = ReadUntil("\r\n", kMaxChunkLine, &line);
    if (s != ReadStatus::kOk) {
      return s;
    }
  } while (!line.empty());
  return ReadStatus::kOk;
}

ReadStatus SocketReader::ReadToEof(const BodySink& sink) {
  for (;;) {
    if (begin_ != end_) {
      sink(std::string_view(buf_.data() + begin_, end_ - begin_));
      begin_ = end_ = 0;
    }
    ReadStatus s = Fill();
    if (s == ReadStatus::kEof) {
      return ReadStatus::kOk;
    }
    if (s != ReadStatus::kOk) {
      return s;
    }
  }
}

ReadStatus SocketReader::ReadBody(const HeaderList& headers, bool unframed_to_eof,
                                  const BodySink& sink) {
  const std::string* te = FindHeader(headers, "transfer-encoding");
  const std::string* cl = FindHeader(headers, "content-length");
  if (te && HasToken(*te, "chunked")) {
    return ReadChunked(sink);
  }
  if (cl) {
    return ReadFixed(std::strtoull(cl->c_str(), nullptr, 10), sink);
  }
  return unframed_to_eof ? ReadToEof(sink) : ReadStatus::kOk;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void SetSocketTimeouts(int fd, int timeout_ms) {
  timeval tv{};
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace ringway::integration
