// A minimal incremental HTTP/1.1 response parser for the load generator: status code,
// Content-Length, chunked and close-delimited bodies, Connection: close, 1xx interim
// responses. It keeps only a short line prefix between receives (headers it does not
// need are skipped), so it costs ~200 bytes per connection and never allocates.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringway::load {

class ResponseParser {
 public:
  enum class Result : uint8_t { kNeedMore, kComplete, kError };

  // Starts a new response; `head_request`: the response has no body.
  void reset(bool head_request);

  // Consumes bytes of `data` up to the end of one response; *consumed says how many.
  Result feed(const char* data, size_t len, size_t* consumed);
  // The peer closed: completes a close-delimited body, else kError (or kNeedMore when
  // no byte of this response was seen: a clean close between responses).
  Result eof();

  int status() const { return status_; }
  // The connection must close after this response.
  bool close() const { return close_; }
  bool started() const { return head_bytes_ != 0 || state_ != State::kStatusLine; }

 private:
  enum class State : uint8_t {
    kStatusLine,
    kHeaderLine,
    kBody,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailer,
    kUntilEof,
  };
  static constexpr size_t kLineCap = 160;
  static constexpr uint32_t kMaxHead = 65536;

  // Next complete line (without CR LF), joined across receives; false when more bytes
  // are needed (everything was consumed).
  bool take_line(const char* data, size_t len, size_t* pos, const char** line, size_t* n);
  bool on_status_line(const char* line, size_t n);
  void on_header_line(const char* line, size_t n);
  Result end_of_head();
  bool on_chunk_size(const char* line, size_t n);

  State state_ = State::kStatusLine;
  bool head_request_ = false;
  bool chunked_ = false;
  bool has_length_ = false;
  bool close_ = false;
  bool http10_keep_alive_ = false;
  bool http10_ = false;
  int status_ = 0;
  uint32_t head_bytes_ = 0;
  uint64_t remaining_ = 0;
  uint16_t line_len_ = 0;
  char line_[kLineCap];
};

}  // namespace ringway::load
