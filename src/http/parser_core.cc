#include "http/parser_core.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "http/text.h"

namespace ringway::http::internal {
namespace {

enum SpanKind : int { kNoSpan = 0, kUrlSpan, kStatusSpan, kFieldSpan, kValueSpan };

const char kEmpty[1] = {'\0'};

// Span callbacks: llhttp calls them once per contiguous piece, and again at the end of
// every execute() while a span is open, so a piece may continue the previous one.
template <int kKind>
int OnSpanCb(llhttp_t* p, const char* at, size_t len) {
  return ParserCore::From(p)->OnSpan(kKind, at, len);
}
int OnFieldCompleteCb(llhttp_t* p) { return ParserCore::From(p)->OnFieldComplete(); }
int OnValueCompleteCb(llhttp_t* p) { return ParserCore::From(p)->OnValueComplete(); }
int OnStartLineCompleteCb(llhttp_t* p) { return ParserCore::From(p)->OnStartLineComplete(); }
int OnBodyCb(llhttp_t* p, const char* at, size_t len) {
  return ParserCore::From(p)->OnBody(at, len);
}
int OnChunkExtensionCb(llhttp_t* p, const char*, size_t len) {
  return ParserCore::From(p)->OnChunkExtension(len);
}
int OnChunkHeaderCb(llhttp_t* p) { return ParserCore::From(p)->OnChunkHeader(); }
int OnMessageBeginCb(llhttp_t* p) { return ParserCore::From(p)->OnMessageBegin(); }
int OnMessageCompleteCb(llhttp_t* p) { return ParserCore::From(p)->OnMessageComplete(); }

bool HasWhitespace(std::string_view s) { return std::any_of(s.begin(), s.end(), IsOws); }

bool HasBadValueChar(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return c == '\0' || c == '\r' || c == '\n'; });
}

}  // namespace

llhttp_settings_t ParserCore::MakeSettings(llhttp_cb on_headers_complete) {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = OnMessageBeginCb;
  s.on_url = OnSpanCb<kUrlSpan>;
  s.on_status = OnSpanCb<kStatusSpan>;
  s.on_header_field = OnSpanCb<kFieldSpan>;
  s.on_header_value = OnSpanCb<kValueSpan>;
  s.on_header_field_complete = OnFieldCompleteCb;
  s.on_header_value_complete = OnValueCompleteCb;
  s.on_version_complete = OnStartLineCompleteCb;
  s.on_status_complete = OnStartLineCompleteCb;
  s.on_headers_complete = on_headers_complete;
  s.on_body = OnBodyCb;
  s.on_message_complete = OnMessageCompleteCb;
  s.on_chunk_extension_name = OnChunkExtensionCb;
  s.on_chunk_extension_value = OnChunkExtensionCb;
  s.on_chunk_header = OnChunkHeaderCb;
  return s;
}

ParserCore::ParserCore(llhttp_type_t type, Side side, const llhttp_settings_t* settings,
                       const ParserLimits& limits, BodySink sink)
    : limits_(limits), side_(side), sink_(sink) {
  llhttp_init(&parser_, type, settings);
  parser_.data = this;
}

void ParserCore::ResetHeadState() {
  facts_ = HeadFacts{};
  start_text_ = {};
  header_count_ = 0;
  place_ = Place::kStartLine;
  name_kind_ = NameKind::kOther;
  open_kind_ = kNoSpan;
  open_end_ = nullptr;
  open_end_offset_ = 0;
  head_bytes_ = 0;
  head_base_ = 0;
  line_ws_ = false;
  message_begun_ = false;
  head_done_ = false;
  message_done_ = false;
  interim_ = false;
}

void ParserCore::ResetMessage() {
  llhttp_reset(&parser_);
  ResetHeadState();
  error_ = ParseError{};
  failed_ = false;
  phase_ = Phase::kHead;
  head_reported_ = false;
  complete_pending_ = false;
  chunked_ = false;
  trailer_bytes_ = 0;
  chunk_ext_bytes_ = 0;
  body_bytes_ = 0;
}

int ParserCore::Fail(Fault fault, const char* detail) {
  if (failed_) {
    return HPE_USER;
  }
  failed_ = true;
  error_ = FaultError(side_, fault);
  if (detail != nullptr && *detail != '\0') {
    size_t n = std::min(error_.message.size(), sizeof(message_buf_) - 3);
    std::memcpy(message_buf_, error_.message.data(), n);
    message_buf_[n++] = ':';
    message_buf_[n++] = ' ';
    size_t d = std::min(std::strlen(detail), sizeof(message_buf_) - n);
    std::memcpy(message_buf_ + n, detail, d);
    error_.message = std::string_view(message_buf_, n + d);
  }
  return HPE_USER;
}

int ParserCore::CheckHeadLimit(uint64_t end_offset) {
  if (end_offset <= limits_.max_header_bytes) {
    return 0;
  }
  return Fail(place_ == Place::kStartLine ? Fault::kLineTooLong : Fault::kHeadTooLarge);
}

// Appends a piece to the open span of the same kind, or starts a new one. Pieces of one
// span are contiguous in memory (feed() contract); a value piece that is not contiguous
// in the input is an obs-fold continuation line.
int ParserCore::Extend(int kind, const char* at, size_t len, std::string_view* view) {
  const uint64_t end_offset = HeadOffset(at + len);
  if (int rc = CheckHeadLimit(end_offset); rc != 0) {
    return rc;
  }
  if (open_kind_ == kind) {
    if (HeadOffset(at) != open_end_offset_) {
      return Fail(kind == kValueSpan ? Fault::kObsFold : Fault::kMalformed);
    }
    if (at != open_end_) {
      return Fail(Fault::kNotContiguous);
    }
    *view = std::string_view(view->data(), view->size() + len);
  } else {
    open_kind_ = kind;
    *view = std::string_view(at, len);
  }
  open_end_ = at + len;
  open_end_offset_ = end_offset;
  return 0;
}

int ParserCore::OnTrailerSpan(size_t len) {
  trailer_bytes_ += static_cast<uint32_t>(std::min<size_t>(len, UINT32_MAX / 2));
  return trailer_bytes_ > limits_.max_header_bytes ? Fail(Fault::kHeadTooLarge) : 0;
}

int ParserCore::OnSpan(int kind, const char* at, size_t len) {
  if (phase_ != Phase::kHead) {
    return OnTrailerSpan(len);
  }
  switch (kind) {
    case kUrlSpan:
    case kStatusSpan:
      return Extend(kind, at, len, &start_text_);
    case kFieldSpan:
      if (open_kind_ != kFieldSpan) {
        const uint32_t cap = std::min(limits_.max_headers, kMaxHeadersCap);
        if (header_count_ >= cap) {
          return Fail(Fault::kTooManyHeaders);
        }
        new (&headers_[header_count_]) Header{};
      }
      return Extend(kind, at, len, &headers_[header_count_].name);
    default:
      return Extend(kind, at, len, &headers_[header_count_].value);
  }
}

int ParserCore::OnStartLineComplete() {
  open_kind_ = kNoSpan;
  place_ = Place::kName;
  return 0;
}

// Ends a header name or value: true in the head, false in trailers (parsed, not kept).
bool ParserCore::CloseHeaderSpan(Place next) {
  open_kind_ = kNoSpan;
  if (phase_ != Phase::kHead) {
    return false;
  }
  place_ = next;
  return true;
}

int ParserCore::OnFieldComplete() {
  if (!CloseHeaderSpan(Place::kValue)) {
    return 0;
  }
  // llhttp 8.1 hands "Host : a" over as name "Host " and accepts "Ho st", and a line starting
  // with ':' as a header with an empty name (which the writer would forward as ": x").
  const std::string_view name = headers_[header_count_].name;
  if (HasWhitespace(name)) {
    return Fail(Fault::kNameWhitespace);
  }
  if (name.empty()) {
    return Fail(Fault::kBadName);
  }
  if (IEquals(name, "host")) {
    name_kind_ = NameKind::kHost;
  } else if (IEquals(name, "transfer-encoding")) {
    name_kind_ = NameKind::kTe;
    ++facts_.te_count;  // counted here so a later Content-Length error can name it
  } else if (IEquals(name, "expect")) {
    name_kind_ = NameKind::kExpect;
  } else {
    name_kind_ = NameKind::kOther;
  }
  return 0;
}

int ParserCore::OnValueComplete() {
  if (!CloseHeaderSpan(Place::kName)) {
    return 0;
  }
  Header& h = headers_[header_count_];
  h.value = TrimOws(h.value);  // llhttp 8.1 keeps trailing whitespace
  if (HasBadValueChar(h.value)) {
    return Fail(Fault::kBadValueChar);
  }
  switch (name_kind_) {
    case NameKind::kHost:
      if (facts_.host_count++ == 0) {
        facts_.host = h.value;
      }
      break;
    case NameKind::kTe:
      facts_.te_chunked = IEquals(h.value, "chunked");
      break;
    case NameKind::kExpect:
      facts_.expect_continue = facts_.expect_continue || IEquals(h.value, "100-continue");
      break;
    case NameKind::kOther:
      break;
  }
  ++header_count_;
  return 0;
}

int ParserCore::FinishHead(HeadVerdict verdict) {
  head_done_ = true;
  phase_ = Phase::kBody;
  chunked_ = (parser_.flags & F_CHUNKED) != 0;
  switch (verdict) {
    case HeadVerdict::kBody:
      return HPE_PAUSED;
    case HeadVerdict::kInterim:
      interim_ = true;
      return 1;
    case HeadVerdict::kNoBody:
      break;
  }
  return 1;
}

int ParserCore::OnBody(const char* at, size_t len) {
  if (side_ == Side::kRequest && len > limits_.max_body_bytes - body_bytes_) {
    return Fail(Fault::kChunkedTooLarge);
  }
  body_bytes_ += len;
  if (sink_.on_body != nullptr) {
    sink_.on_body(sink_.ctx, at, len);
  }
  return 0;
}

int ParserCore::OnChunkExtension(size_t len) {
  chunk_ext_bytes_ += static_cast<uint32_t>(std::min<size_t>(len, kMaxChunkExtBytes + 1));
  return chunk_ext_bytes_ > kMaxChunkExtBytes ? Fail(Fault::kChunkExtTooLong) : 0;
}

Fault ParserCore::FaultFromErrno(llhttp_errno_t err, const char* start, const char* pos,
                                 const char* end) const {
  switch (err) {
    case HPE_PAUSED_H2_UPGRADE:
      return Fault::kH2Preface;
    case HPE_PAUSED_UPGRADE:
      return Fault::kUpgrade;
    case HPE_INVALID_VERSION:
      return Fault::kVersion;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
      return facts_.te_count > 0 ? Fault::kClAndTe : Fault::kDuplicateCl;
    case HPE_INVALID_CONTENT_LENGTH:
      return Fault::kBadCl;
    case HPE_INVALID_TRANSFER_ENCODING:
      return Fault::kBadTe;
    case HPE_INVALID_CHUNK_SIZE:
      return Fault::kBadChunk;
    case HPE_UNEXPECTED_SPACE:  // a first header line starting with SP
      return place_ == Place::kName ? Fault::kObsFold : Fault::kMalformed;
    default:
      break;
  }
  if (phase_ != Phase::kHead) {
    return chunked_ ? Fault::kBadChunk : Fault::kMalformed;
  }
  const bool char_error =
      err == HPE_INVALID_HEADER_TOKEN || err == HPE_LF_EXPECTED || err == HPE_CR_EXPECTED;
  if (char_error && place_ == Place::kValue) {
    return Fault::kBadValueChar;
  }
  if (err == HPE_INVALID_HEADER_TOKEN && place_ == Place::kName) {
    // llhttp takes some names with whitespace ("Ho st") and trips later in the line.
    const bool at_ws = (pos < end && IsOws(*pos)) || LineHasWhitespace(start, pos);
    return at_ws ? Fault::kNameWhitespace : Fault::kBadName;
  }
  return Fault::kMalformed;
}

// Whether the line holding `p` has SP / HTAB before `p`; the part of the line fed
// before `start` is summed up by line_ws_.
bool ParserCore::LineHasWhitespace(const char* start, const char* p) const {
  while (p > start) {
    --p;
    if (*p == '\n') {
      return false;
    }
    if (IsOws(*p)) {
      return true;
    }
  }
  return line_ws_;
}

void ParserCore::StartAfterInterim(const char* pos) {
  ResetHeadState();
  message_begun_ = true;  // the final response is still due
  phase_ = Phase::kHead;
  feed_start_ = pos;
}

FeedResult ParserCore::OnPause(const char* data, const char* pos) {
  const size_t consumed = static_cast<size_t>(pos - data);
  if (head_done_ && !head_reported_) {
    head_reported_ = true;
    head_bytes_ = static_cast<uint32_t>(std::min<uint64_t>(HeadOffset(pos), UINT32_MAX));
    if (CheckHeadLimit(head_bytes_) != 0) {
      return Failed(consumed);
    }
    complete_pending_ = message_done_;
    return {consumed, Event::kHeadComplete};
  }
  phase_ = Phase::kDone;
  return {consumed, Event::kMessageComplete};
}

FeedResult ParserCore::Feed(const char* data, size_t len) {
  if (failed_) {
    return Failed(0);
  }
  if (complete_pending_ || phase_ == Phase::kDone) {
    complete_pending_ = false;
    phase_ = Phase::kDone;
    return {0, Event::kMessageComplete};
  }
  if (data == nullptr) {
    data = kEmpty;
    len = 0;
  }
  feed_start_ = data;
  head_base_ = head_bytes_;
  const char* p = data;
  const char* const end = data + len;
  for (;;) {
    const llhttp_errno_t err = llhttp_execute(&parser_, p, static_cast<size_t>(end - p));
    if (err == HPE_OK) {
      if (!head_reported_) {
        line_ws_ = LineHasWhitespace(data, end);
        head_bytes_ = static_cast<uint32_t>(std::min<uint64_t>(HeadOffset(end), UINT32_MAX));
        CheckHeadLimit(head_bytes_);
      }
      return failed_ ? Failed(len) : FeedResult{len, Event::kNeedMore};
    }
    const char* pos = llhttp_get_error_pos(&parser_);
    if (pos == nullptr || pos < data || pos > end) {
      pos = end;
    }
    if (err != HPE_PAUSED || failed_) {
      // Bytes before the offending one already crossed the head limit: that is the fault,
      // as it is when they arrive in pieces and one ends past the limit (the answer must not
      // depend on how the bytes were split).
      if (!failed_ && !head_reported_ && CheckHeadLimit(HeadOffset(pos)) != 0) {
        return Failed(static_cast<size_t>(pos - data));
      }
      const Fault fault = FaultFromErrno(err, data, pos, end);
      Fail(fault, fault == Fault::kMalformed ? llhttp_get_error_reason(&parser_) : nullptr);
      return Failed(static_cast<size_t>(pos - data));
    }
    llhttp_resume(&parser_);
    if (!interim_ || !message_done_) {
      return OnPause(data, pos);
    }
    // The interim head counts against the limit on its own, as the final one does at its
    // end (OnPause): checked here too, not only when a feed happens to end inside it, so the
    // answer does not depend on how the bytes were split. Found by tests/fuzz/fuzz_response.
    if (CheckHeadLimit(HeadOffset(pos)) != 0) {
      return Failed(static_cast<size_t>(pos - data));
    }
    StartAfterInterim(pos);
    p = pos;
  }
}

FeedResult ParserCore::Finish() {
  if (failed_) {
    return Failed(0);
  }
  if (!message_begun_ || phase_ == Phase::kDone) {
    return {0, Event::kNeedMore};
  }
  if (!message_done_ && head_reported_) {
    // Let llhttp leave the after-head pause and reach its wait-for-EOF state.
    llhttp_resume(&parser_);
    if (llhttp_execute(&parser_, kEmpty, 0) == HPE_OK) {
      llhttp_finish(&parser_);  // runs on_message_complete for a close-delimited body
    }
    if (failed_) {
      return Failed(0);
    }
  }
  if (message_done_ && head_reported_) {
    complete_pending_ = false;
    phase_ = Phase::kDone;
    return {0, Event::kMessageComplete};
  }
  Fail(Fault::kIncomplete);
  return Failed(0);
}

}  // namespace ringway::http::internal
