// The bits of RFC 6455 both WebSocket bench tools need: SHA-1 and base64 for the
// Sec-WebSocket-Accept value, frame headers, masking, a few byte-buffer helpers.
// Written for the bench (no dependency); not for anything security-relevant.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::ws {

inline constexpr uint8_t kOpContinuation = 0x0;
inline constexpr uint8_t kOpText = 0x1;
inline constexpr uint8_t kOpBinary = 0x2;
inline constexpr uint8_t kOpClose = 0x8;
inline constexpr uint8_t kOpPing = 0x9;
inline constexpr uint8_t kOpPong = 0xA;

inline constexpr size_t kMaxHeader = 14;  // 2 + 8 (64-bit length) + 4 (mask)

// SHA-1 of `data` (FIPS 180-4), 20 bytes.
void Sha1(const void* data, size_t len, uint8_t out[20]);
// Standard base64 with padding.
std::string Base64(const uint8_t* data, size_t len);
// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string AcceptFor(std::string_view key);

// A parsed frame header.
struct FrameHeader {
  bool fin = false;
  uint8_t rsv = 0;  // RSV1-3 bits, must be 0 (no extension is negotiated)
  uint8_t opcode = 0;
  bool masked = false;
  uint8_t mask[4] = {0, 0, 0, 0};
  uint64_t length = 0;
  size_t header_len = 0;  // bytes of the header (including the mask)
};

// Parses a header from `p[0..n)`: 1 parsed, 0 needs more bytes, -1 malformed (a 64-bit
// length with the top bit set, or a control frame longer than 125 bytes or fragmented).
int ParseHeader(const uint8_t* p, size_t n, FrameHeader* h);

// Writes a frame header (FIN set) into `out` (at least kMaxHeader bytes); returns its size.
// `mask` null: unmasked.
size_t WriteHeader(uint8_t* out, uint8_t opcode, uint64_t length, const uint8_t* mask,
                   bool fin = true);

// XORs `p[0..n)` with the mask, starting at mask byte `offset % 4`.
void ApplyMask(uint8_t* p, size_t n, const uint8_t mask[4], size_t offset = 0);

// Case-insensitive ASCII comparison.
bool IEquals(std::string_view a, std::string_view b);
// True when the comma-separated header value has `token` (case-insensitive).
bool HasToken(std::string_view value, std::string_view token);
// The value of header `name` in an HTTP head (request or status line first, CRLF lines),
// trimmed; empty if absent.
std::string_view HeaderValue(std::string_view head, std::string_view name);

// A byte queue: append at the tail, consume at the head; compacts before it grows.
class Buffer {
 public:
  size_t size() const { return end_ - beg_; }
  bool empty() const { return end_ == beg_; }
  uint8_t* data() { return buf_.data() + beg_; }
  const uint8_t* data() const { return buf_.data() + beg_; }
  // At least `n` writable bytes at tail(); commit() what was written.
  uint8_t* tail(size_t n) {
    if (buf_.size() - end_ < n) {
      if (beg_ > 0) {
        if (end_ > beg_) {
          memmove(buf_.data(), buf_.data() + beg_, end_ - beg_);
        }
        end_ -= beg_;
        beg_ = 0;
      }
      if (buf_.size() - end_ < n) {
        buf_.resize(std::max(buf_.size() * 2, end_ + n));
      }
    }
    return buf_.data() + end_;
  }
  size_t tail_room() const { return buf_.size() - end_; }
  void commit(size_t n) { end_ += n; }
  void append(const void* p, size_t n) {
    memcpy(tail(n), p, n);
    end_ += n;
  }
  void consume(size_t n) {
    beg_ += n;
    if (beg_ == end_) {
      beg_ = end_ = 0;
    }
  }
  void clear() { beg_ = end_ = 0; }

 private:
  std::vector<uint8_t> buf_;
  size_t beg_ = 0;
  size_t end_ = 0;
};

}  // namespace ringway::ws
