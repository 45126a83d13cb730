// llhttp glue shared by RequestParser and ResponseParser: the feed loop with its pauses,
// header spans (extended across feeds), header-level checks llhttp 8.1 does not make,
// limits, and the mapping of llhttp errors to Faults.
//
// Pausing: on_headers_complete returns HPE_PAUSED (body follows) or 1 (no body; llhttp
// then completes the message at once); on_message_complete always returns HPE_PAUSED.
// Feed() turns each pause into an Event; the position of a pause is
// llhttp_get_error_pos(), so `consumed` stops exactly after the head / the message.
#pragma once

#include <llhttp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "http/errors.h"
#include "ringway/http.h"

namespace ringway::http::internal {

// What a parser's on_headers_complete hook decided about the rest of the message.
enum class HeadVerdict : uint8_t {
  kBody,     // a body may follow (even an empty one): pause after the head
  kNoBody,   // no body whatever the headers say (HEAD response, 204, 304)
  kInterim,  // 1xx interim response: drop it silently, parse the next one
};

// Facts about headers the parsers need, gathered while headers are parsed.
struct HeadFacts {
  std::string_view host;  // value of the first Host
  uint16_t host_count = 0;
  uint16_t te_count = 0;    // Transfer-Encoding field lines
  bool te_chunked = false;  // the only Transfer-Encoding value is exactly "chunked"
  bool expect_continue = false;
  bool te_ok() const { return te_count == 0 || (te_count == 1 && te_chunked); }
};

class ParserCore {
 public:
  ParserCore(llhttp_type_t type, Side side, const llhttp_settings_t* settings,
             const ParserLimits& limits, BodySink sink);
  ParserCore(const ParserCore&) = delete;
  ParserCore& operator=(const ParserCore&) = delete;

  // Settings with the shared callbacks and the parser's own on_headers_complete.
  static llhttp_settings_t MakeSettings(llhttp_cb on_headers_complete);
  static ParserCore* From(llhttp_t* p) { return static_cast<ParserCore*>(p->data); }

  // Forgets the current message and its error; ready for the first byte of the next.
  void ResetMessage();
  void set_limits(const ParserLimits& limits) { limits_ = limits; }
  FeedResult Feed(const char* data, size_t len);
  // Peer EOF: completes a close-delimited body, kError mid-message, else kNeedMore.
  FeedResult Finish();

  const ParseError& error() const { return error_; }
  uint32_t head_bytes() const { return head_bytes_; }
  uint64_t body_bytes() const { return body_bytes_; }

  // llhttp callbacks (static trampolines live in parser_core.cc).
  int OnSpan(int kind, const char* at, size_t len);
  int OnFieldComplete();
  int OnValueComplete();
  int OnStartLineComplete();
  int OnBody(const char* at, size_t len);
  int OnChunkExtension(size_t len);
  int OnChunkHeader() {
    chunk_ext_bytes_ = 0;  // the limit is per chunk-size line
    return 0;
  }
  int OnMessageBegin() {
    message_begun_ = true;
    return 0;
  }
  int OnMessageComplete() {
    message_done_ = true;
    return HPE_PAUSED;
  }

 protected:
  // Records the first fault (later ones are ignored); returns HPE_USER for callbacks.
  int Fail(Fault fault, const char* detail = nullptr);
  // Ends the head; returns what on_headers_complete must give llhttp.
  int FinishHead(HeadVerdict verdict);
  bool version_ok() const {
    return parser_.http_major == 1 && (parser_.http_minor == 0 || parser_.http_minor == 1);
  }
  const llhttp_t& llhttp() const { return parser_; }
  const ParserLimits& limits() const { return limits_; }
  const HeadFacts& facts() const { return facts_; }
  std::string_view start_text() const { return start_text_; }  // target or reason
  const Header* headers() const { return headers_; }
  uint32_t header_count() const { return header_count_; }
  // Fills the fields RequestHead and ResponseHead share from the parsed head: version,
  // headers, content_length (-1: no Content-Length) and chunked.
  template <typename Head>
  void FillCommonHead(Head& head) const {
    head.http_major = parser_.http_major;
    head.http_minor = parser_.http_minor;
    head.headers = headers();
    head.header_count = header_count();
    head.content_length =
        (parser_.flags & F_CONTENT_LENGTH) != 0 ? static_cast<int64_t>(parser_.content_length) : -1;
    head.chunked = (parser_.flags & F_CHUNKED) != 0;
  }

 private:
  enum class Phase : uint8_t { kHead, kBody, kDone };
  // Where in the head llhttp is: start line, a header name, or a header value.
  enum class Place : uint8_t { kStartLine, kName, kValue };
  // The header names OnValueComplete gathers facts about; set once per name.
  enum class NameKind : uint8_t { kOther, kHost, kTe, kExpect };

  uint64_t HeadOffset(const char* p) const { return head_base_ + (p - feed_start_); }
  int Extend(int kind, const char* at, size_t len, std::string_view* view);
  int CheckHeadLimit(uint64_t end_offset);
  bool CloseHeaderSpan(Place next);
  int OnTrailerSpan(size_t len);
  // `start..end` is the input of the failing feed(), `pos` llhttp's error position.
  Fault FaultFromErrno(llhttp_errno_t err, const char* start, const char* pos,
                       const char* end) const;
  FeedResult Failed(size_t consumed) const { return {consumed, Event::kError}; }
  FeedResult OnPause(const char* data, const char* pos);
  bool LineHasWhitespace(const char* start, const char* p) const;
  void StartAfterInterim(const char* pos);
  void ResetHeadState();

  llhttp_t parser_;
  ParserLimits limits_;
  HeadFacts facts_;
  std::string_view start_text_;
  // Raw storage, not std::array<Header>: constructing 256 string_view pairs would write (and
  // make resident) 8 KiB per parser up front, for heads that have a dozen headers; each
  // slot is constructed when its header starts (Header is trivially destructible).
  alignas(Header) unsigned char header_store_[kMaxHeadersCap * sizeof(Header)];
  Header* headers_ = reinterpret_cast<Header*>(header_store_);
  static_assert(std::is_trivially_destructible_v<Header>);
  uint32_t header_count_ = 0;
  Side side_;
  BodySink sink_;
  ParseError error_;
  bool failed_ = false;
  Phase phase_ = Phase::kHead;
  Place place_ = Place::kStartLine;
  NameKind name_kind_ = NameKind::kOther;  // of the header whose value is being parsed
  bool message_begun_ = false;
  bool head_done_ = false;         // on_headers_complete accepted the head
  bool head_reported_ = false;     // kHeadComplete was returned
  bool message_done_ = false;      // on_message_complete ran
  bool complete_pending_ = false;  // head and message ended in one pause
  bool interim_ = false;
  bool chunked_ = false;
  int open_kind_ = 0;  // span kind being extended, 0: none
  const char* open_end_ = nullptr;
  uint64_t open_end_offset_ = 0;
  // Head offsets: HeadOffset(p) is how many head bytes precede p.
  const char* feed_start_ = nullptr;
  uint64_t head_base_ = 0;
  uint32_t head_bytes_ = 0;
  uint32_t trailer_bytes_ = 0;
  uint32_t chunk_ext_bytes_ = 0;
  uint64_t body_bytes_ = 0;
  bool line_ws_ = false;  // the line cut by the previous feed's end has SP / HTAB so far
  char message_buf_[160];
};

// Base of each parser's Impl: wires `Derived::HeadersComplete()` (public, returning what
// on_headers_complete gives llhttp) into one static settings block per parser type.
template <typename Derived>
class ParserWithHead : public ParserCore {
 protected:
  ParserWithHead(llhttp_type_t type, Side side, const ParserLimits& limits, BodySink sink)
      : ParserCore(type, side, &Settings(), limits, sink) {}

 private:
  static const llhttp_settings_t& Settings() {
    static const llhttp_settings_t settings = MakeSettings(&OnHeadersComplete);
    return settings;
  }
  static int OnHeadersComplete(llhttp_t* p) {
    return static_cast<Derived*>(From(p))->HeadersComplete();
  }
};

}  // namespace ringway::http::internal
