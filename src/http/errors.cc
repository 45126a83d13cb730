// Error tables for both parsers. Codes are stable: never renumber, only add.
// Client-side codes: RW.<status><cause>; backend-side codes: RW.52nn, where nn is the
// cause number of the matching client-side RW.40nn code (see ringway/http.h).
#include "http/errors.h"

#include <array>

namespace ringway::http::internal {
namespace {

constexpr size_t kFaults = static_cast<size_t>(Fault::kCount);

// Indexed by Fault; keep the order of the enum.
constexpr std::array<ParseError, kFaults> kRequestErrors = {{
    {400, "RW.4000", "malformed request"},
    {400, "RW.4001", "request has both Content-Length and Transfer-Encoding"},
    {400, "RW.4002", "duplicate Content-Length header"},
    {400, "RW.4003", "invalid Content-Length header"},
    {400, "RW.4004", "unsupported Transfer-Encoding: only a single \"chunked\" is accepted"},
    {400, "RW.4005", "invalid chunked body framing"},
    {400, "RW.4006", "obsolete header line folding is not allowed"},
    {400, "RW.4007", "whitespace in header name or before the colon"},
    {400, "RW.4008", "invalid character in header name"},
    {400, "RW.4009", "invalid character (NUL, CR or LF) in header value"},
    {400, "RW.4010", "missing Host header"},
    {400, "RW.4011", "duplicate Host header"},
    {400, "RW.4012", "invalid request target"},
    {400, "RW.4013", "incomplete request"},
    {400, "RW.4014", "chunk extensions too long"},
    {413, "RW.4130", "request body too large (Content-Length over the limit)"},
    {413, "RW.4131", "request body too large (chunked body over the limit)"},
    {414, "RW.4140", "request line too long"},
    {431, "RW.4310", "request header section too large"},
    {431, "RW.4311", "too many request headers"},
    {501, "RW.5010", "CONNECT is not supported"},
    {501, "RW.5011", "protocol upgrade not possible for this request"},
    {505, "RW.5050", "HTTP/2 prior knowledge is not supported, use HTTP/1.1"},
    {505, "RW.5051", "HTTP version not supported, use HTTP/1.1"},
    {400, "RW.4000", "malformed request"},  // kSwitching: response-only
    {500, "RW.5001", "internal error: request head bytes not contiguous"},
}};

constexpr std::array<ParseError, kFaults> kResponseErrors = {{
    {502, "RW.5200", "malformed backend response"},
    {502, "RW.5201", "backend response has both Content-Length and Transfer-Encoding"},
    {502, "RW.5202", "duplicate Content-Length in backend response"},
    {502, "RW.5203", "invalid Content-Length in backend response"},
    {502, "RW.5204", "unsupported Transfer-Encoding in backend response"},
    {502, "RW.5205", "invalid chunked framing in backend response"},
    {502, "RW.5206", "obsolete header line folding in backend response"},
    {502, "RW.5207", "whitespace in header name in backend response"},
    {502, "RW.5208", "invalid header name in backend response"},
    {502, "RW.5209", "invalid character in header value in backend response"},
    {502, "RW.5200", "malformed backend response"},  // kNoHost: request-only
    {502, "RW.5200", "malformed backend response"},  // kDuplicateHost: request-only
    {502, "RW.5200", "malformed backend response"},  // kBadTarget: request-only
    {502, "RW.5213", "backend closed the connection mid-response"},
    {502, "RW.5214", "chunk extensions too long in backend response"},
    {502, "RW.5200", "malformed backend response"},       // kBodyTooLarge: request-only
    {502, "RW.5200", "malformed backend response"},       // kChunkedTooLarge: request-only
    {502, "RW.5231", "backend response head too large"},  // kLineTooLong
    {502, "RW.5231", "backend response head too large"},
    {502, "RW.5232", "too many headers in backend response"},
    {502, "RW.5200", "malformed backend response"},  // kConnect: request-only
    {502, "RW.5200", "malformed backend response"},  // kUpgrade: request-only
    {502, "RW.5200", "malformed backend response"},  // kH2Preface: request-only
    {502, "RW.5250", "backend HTTP version not supported"},
    {502, "RW.5251", "backend switched protocols (101) without an upgrade request"},
    {500, "RW.5001", "internal error: response head bytes not contiguous"},
}};

}  // namespace

const ParseError& FaultError(Side side, Fault fault) {
  size_t i = static_cast<size_t>(fault);
  if (i >= kFaults) {
    i = 0;
  }
  return side == Side::kRequest ? kRequestErrors[i] : kResponseErrors[i];
}

}  // namespace ringway::http::internal
