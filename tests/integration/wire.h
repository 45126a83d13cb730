// HTTP/1.1 wire helpers shared by the stub backend and the test client: a buffered socket
// reader that streams bodies (Content-Length, chunked, close-delimited), head parsing,
// FNV-1a 64 checksums and the deterministic body pattern (byte i is 'a' + i % 26).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringway::integration {

// ---- checksums and body content ----

class Fnv1a {
 public:
  void Update(std::string_view data);
  uint64_t value() const { return hash_; }
  std::string Hex() const;  // 16 lowercase hex digits

 private:
  uint64_t hash_ = 14695981039346656037ull;
};

std::string Fnv1aHex(std::string_view data);

// A view of at most `max_len` pattern bytes starting at absolute offset `offset`
// (never longer than kPatternSlice).
inline constexpr size_t kPatternSlice = 64 * 1024;
std::string_view PatternSlice(uint64_t offset, size_t max_len);
std::string PatternBytes(uint64_t offset, size_t len);
bool MatchesPattern(uint64_t offset, std::string_view data);

// ---- headers ----

using HeaderList = std::vector<std::pair<std::string, std::string>>;

std::string ToLower(std::string_view s);
bool IEquals(std::string_view a, std::string_view b);
// The value of the first header named `name` (case-insensitive), or nullptr.
const std::string* FindHeader(const HeaderList& headers, std::string_view name);
// True when the comma-separated `list` holds `token` (case-insensitive).
bool HasToken(std::string_view list, std::string_view token);

struct ParsedHead {
  std::string start_line;
  HeaderList headers;
};
// Splits a head (without its final blank line) into the start line and headers.
// Returns false on a header line without a colon.
bool ParseHead(std::string_view head, ParsedHead* out);

// ---- socket I/O ----

enum class ReadStatus { kOk, kEof, kTimeout, kError, kMalformed, kTooLarge };
const char* ToString(ReadStatus s);

using BodySink = std::function<void(std::string_view)>;

// Buffered reads from a blocking socket; a receive timeout (SO_RCVTIMEO) set by the owner
// shows up as kTimeout. Bodies are handed to a sink piece by piece (constant memory).
class SocketReader {
 public:
  explicit SocketReader(int fd);

  // Reads up to and including the blank line; `head` gets everything before it.
  ReadStatus ReadHead(size_t max_bytes, std::string* head) {
    return ReadUntil("\r\n\r\n", max_bytes, head);
  }
  ReadStatus ReadFixed(uint64_t len, const BodySink& sink);
  ReadStatus ReadChunked(const BodySink& sink);  // decodes, consumes trailers
  ReadStatus ReadToEof(const BodySink& sink);
  // Reads the body framed by `headers`: chunked Transfer-Encoding, else Content-Length,
  // else (neither) to EOF when `unframed_to_eof` (a response) or none at all (a request).
  ReadStatus ReadBody(const HeaderList& headers, bool unframed_to_eof, const BodySink& sink);
  bool HasBuffered() const { return begin_ != end_; }
  int last_errno() const { return last_errno_; }

 private:
  ReadStatus Fill();
  // Reads up to `delim`; `out` gets what precedes it, the delimiter is consumed.
  ReadStatus ReadUntil(std::string_view delim, size_t max_bytes, std::string* out);

  int fd_;
  std::vector<char> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
  int last_errno_ = 0;
};

// Writes everything (MSG_NOSIGNAL); false on error or send timeout.
bool SendAll(int fd, std::string_view data);
// Sets SO_RCVTIMEO and SO_SNDTIMEO.
void SetSocketTimeouts(int fd, int timeout_ms);

}  // namespace ringway::integration
