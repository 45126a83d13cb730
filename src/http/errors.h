// Why a message is refused, and the (status, code, message) each side answers with.
// The code table is in ringway/http.h next to ParseError; errors.cc holds the values.
#pragma once

#include <cstdint>

#include "ringway/http.h"

namespace ringway::http::internal {

// Which peer sent the message: a client request (4xx/5xx answers) or a backend
// response (always 502 to the client).
enum class Side : uint8_t { kRequest, kResponse };

enum class Fault : uint8_t {
  kMalformed,        // llhttp refused it; the message carries llhttp's reason
  kClAndTe,          // Content-Length and Transfer-Encoding together
  kDuplicateCl,      // Content-Length more than once (identical or not)
  kBadCl,            // Content-Length not a decimal number, or overflow
  kBadTe,            // Transfer-Encoding other than exactly one "chunked"
  kBadChunk,         // chunk size line / chunk CRLF invalid
  kObsFold,          // header line starting with SP / HTAB
  kNameWhitespace,   // whitespace in a header name or before the colon
  kBadName,          // other invalid character in a header name
  kBadValueChar,     // NUL, CR or LF inside a header value
  kNoHost,           // HTTP/1.1 request without Host
  kDuplicateHost,    // more than one Host
  kBadTarget,        // request-target neither origin-form nor http(s) absolute-form
  kIncomplete,       // peer closed mid-message
  kChunkExtTooLong,  // chunk extensions of one chunk over kMaxChunkExtBytes
  kBodyTooLarge,     // Content-Length over max_body_bytes
  kChunkedTooLarge,  // de-chunked body crossed max_body_bytes
  kLineTooLong,      // request line over max_header_bytes
  kHeadTooLarge,     // head (or trailer section) over max_header_bytes
  kTooManyHeaders,   // more than max_headers header lines
  kConnect,          // CONNECT method
  kUpgrade,          // llhttp paused for an upgrade where none is taken (not expected)
  kH2Preface,        // HTTP/2 prior-knowledge preface
  kVersion,          // HTTP version other than 1.0 / 1.1
  kSwitching,        // 101 from a backend to a request that did not ask for it
  kNotContiguous,    // caller broke the contiguity contract of feed()
  kCount,
};

// Chunk extensions accepted per chunk-size line (they are parsed and dropped).
inline constexpr uint32_t kMaxChunkExtBytes = 4096;

// The answer for `fault` seen on `side`. Static storage.
const ParseError& FaultError(Side side, Fault fault);

}  // namespace ringway::http::internal
