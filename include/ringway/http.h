// HTTP/1.1 message parsing (llhttp underneath) and the writers the proxy uses.
//
// Both parsers are incremental and streaming: `feed()` consumes bytes and stops at the
// events the proxy must act on (head complete, message complete). Body bytes are handed
// to a `BodySink` as they are parsed, already de-chunked; the proxy re-frames them.
// Header views point into the memory that was fed: the caller keeps the head's bytes
// alive and unmoved from the first byte of the message until it is done with the head.
//
// Thread affinity: one parser per connection, shard-local. No allocation after
// construction; no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "ringway/buffer.h"
#include "ringway/http_status.h"

namespace ringway::http {

// Receives de-chunked body bytes. A plain function pointer set once per connection.
struct BodySink {
  void* ctx = nullptr;
  void (*on_body)(void* ctx, const char* data, size_t len) = nullptr;
};

struct Header {
  std::string_view name;
  std::string_view value;
};

// The most headers a head may carry, whatever `limits.max_headers` says (memory bound).
inline constexpr uint32_t kMaxHeadersCap = 256;

enum class Event : uint8_t {
  kNeedMore,         // all input consumed, message not finished
  kHeadComplete,     // head parsed; `consumed` stops right after it; inspect head()
  kMessageComplete,  // message finished; `consumed` stops right after it
  kError,            // see error(); the connection must be closed after answering
};

struct FeedResult {
  size_t consumed = 0;
  Event event = Event::kNeedMore;
};

// Why a message was refused: the status to answer and a stable code, one per cause.
// Views point at static text or into the parser; valid until the parser's next reset.
//
//   code     status  cause (client request)
//   RW.4000  400     malformed (llhttp's reason appended to the message)
//   RW.4001  400     both Content-Length and Transfer-Encoding
//   RW.4002  400     Content-Length twice, even with identical values (llhttp refuses)
//   RW.4003  400     Content-Length not a decimal number, or overflow
//   RW.4004  400     Transfer-Encoding other than one header with exactly "chunked"
//                    (any case); "gzip, chunked", "identity", two headers: refused
//   RW.4005  400     invalid chunk size line or chunk framing
//   RW.4006  400     obs-fold: a header line starting with SP / HTAB
//   RW.4007  400     whitespace in a header name or between name and colon
//   RW.4008  400     other invalid character in a header name
//   RW.4009  400     NUL, CR or LF inside a header value
//   RW.4010  400     HTTP/1.1 request without Host
//   RW.4011  400     more than one Host
//   RW.4012  400     request-target not origin-form ("/...") nor http(s) absolute-form,
//                    or with a fragment / userinfo ("OPTIONS *" included)
//   RW.4013  400     client closed mid-request (finish())
//   RW.4014  400     chunk extensions of one chunk over 4096 bytes
//   RW.4130  413     Content-Length over max_body_bytes (at head time)
//   RW.4131  413     chunked body crossed max_body_bytes (de-chunked bytes)
//   RW.4140  414     request line over max_header_bytes (also while still incomplete)
//   RW.4310  431     request line + header lines (or the trailer section) over
//                    max_header_bytes
//   RW.4311  431     more than max_headers header lines (cap kMaxHeadersCap)
//   RW.5010  501     CONNECT
//   RW.5050  505     HTTP/2 prior-knowledge preface ("PRI * HTTP/2.0")
//   RW.5051  505     HTTP version other than 1.0 / 1.1
//   RW.5001  500     feed() contiguity contract broken by the caller (a bug)
// Backend responses: always 502, code RW.52nn where nn matches the cause of RW.40nn
// above (RW.5200 malformed ... RW.5209, RW.5213 backend closed mid-response, RW.5214),
// plus RW.5231 head too large, RW.5232 too many headers, RW.5250 HTTP version,
// RW.5251 101 Switching Protocols to a request that did not ask for it (or without an
// Upgrade header).
struct ParseError {
  uint16_t status = 0;       // 400, 413, 414, 431, 500, 501, 502, 505
  std::string_view code;     // "RW.4001" style, stable
  std::string_view message;  // human text for the JSON body
};

struct ParserLimits {
  uint32_t max_header_bytes = 32768;  // request line + header lines
  uint32_t max_headers = 100;
  uint64_t max_body_bytes = 12582912;
};

// Parsed request head. `headers` excludes nothing: hop-by-hop filtering is the writer's.
// Header values have leading and trailing SP / HTAB removed.
struct RequestHead {
  uint8_t method = 0;            // llhttp_method_t value
  std::string_view method_name;  // "GET"
  std::string_view target;       // as received: "/a/b?x=1" or "http://h/a/b?x=1"
  std::string_view path;         // target without query (absolute-form: its path,
                                 // "/" when it has none)
  std::string_view query;        // after '?', without it; empty if none
  uint8_t http_major = 1;
  uint8_t http_minor = 1;
  const Header* headers = nullptr;
  uint32_t header_count = 0;
  std::string_view host;        // Host value (may include :port); for an
                                // absolute-form target, its authority instead
                                // (RFC 9112 3.2.2); Host is still required
  int64_t content_length = -1;  // -1: none
  bool chunked = false;
  bool keep_alive = true;        // after Connection / version rules (1.0 needs
                                 // "keep-alive", 1.1 closes on "close")
  bool expect_continue = false;  // "Expect: 100-continue" on HTTP/1.1 (ignored on 1.0)
  // The Upgrade value when the request asks to switch protocols and may: HTTP/1.1,
  // "Connection: upgrade", no body, and a protocol other than h2c (upgrade_passes). Empty
  // otherwise: the request is an ordinary one (its Upgrade is hop-by-hop and dropped).
  std::string_view upgrade;
  bool has_body() const { return chunked || content_length > 0; }
  // First value of a header, case-insensitive; empty if absent.
  std::string_view get(std::string_view name) const;
};

class RequestParser {
 public:
  RequestParser(const ParserLimits& limits, BodySink sink);
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Starts a new message (after kMessageComplete, or to reuse the parser).
  void reset();
  void set_limits(const ParserLimits& limits);
  // Feeds bytes. Each call's bytes must directly follow the previous call's bytes in
  // the same buffer while the head is parsed (a header split across calls becomes one
  // view spanning both). After kHeadComplete call feed() again with the rest, even when
  // the rest is empty (len 0): a message without body then returns kMessageComplete
  // with consumed 0. After kMessageComplete call reset() before feeding the next
  // (pipelined) message; until then feed() keeps returning kMessageComplete, consumed 0.
  // After kError feed() keeps returning kError.
  FeedResult feed(const char* data, size_t len);
  // Bytes of the current head seen so far (request line + headers), for 414/431.
  uint32_t head_bytes() const;
  const RequestHead& head() const;
  const ParseError& error() const;
  // Body bytes delivered so far for the current message.
  uint64_t body_bytes() const;
  // The client closed: returns kError if a message was in progress, else kNeedMore.
  FeedResult finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ResponseHead {
  uint16_t status = 0;
  std::string_view reason;
  uint8_t http_major = 1;
  uint8_t http_minor = 1;
  const Header* headers = nullptr;
  uint32_t header_count = 0;
  int64_t content_length = -1;
  bool chunked = false;
  bool keep_alive = true;        // the backend connection may be reused
  bool no_body = false;          // HEAD request, 1xx, 204, 304
  bool close_delimited = false;  // body runs until the backend closes
  std::string_view get(std::string_view name) const;
};

class ResponseParser {
 public:
  ResponseParser(const ParserLimits& limits, BodySink sink);
  ~ResponseParser();
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // Starts a new response; `head_request` makes the body empty whatever the headers say.
  // `upgrade_request`: the request asked to switch protocols (RequestHead::upgrade), so a
  // 101 with Upgrade and "Connection: upgrade" is its answer (kHeadComplete, no body, not
  // keep-alive: the bytes after its head belong to the new protocol); any other 101 is
  // refused (RW.5251).
  void reset(bool head_request, bool upgrade_request = false);
  void set_limits(const ParserLimits& limits);
  // Same contract as RequestParser::feed(). Interim 1xx responses (other than 101) are
  // consumed silently and never reported. A no_body response (HEAD, 204, 304) reports
  // kHeadComplete, then kMessageComplete on the next feed(), whatever its len.
  FeedResult feed(const char* data, size_t len);
  // The backend closed: completes a close-delimited body (kMessageComplete), kError
  // (RW.5213) if mid-message, kNeedMore if no response had begun.
  FeedResult finish();
  const ResponseHead& head() const;
  const ParseError& error() const;
  // Body bytes of the current response parsed so far (before any framing is removed for
  // chunked bodies: the payload bytes given to the sink).
  uint64_t body_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- writers (all write into a Writer; the caller checks Writer::ok()) ----

// True when an Upgrade value names a protocol ringway passes: any token but h2c.
bool upgrade_passes(std::string_view upgrade);

// True for hop-by-hop header names (Connection, Keep-Alive, TE, Trailer, Upgrade,
// Transfer-Encoding, Proxy-*), case-insensitive.
bool is_hop_by_hop(std::string_view name);

// True if `name` is listed in any Connection header value of `headers`.
bool named_by_connection(std::string_view name, const Header* headers, uint32_t count);

struct UpstreamRequest {
  std::string_view method;          // method to send
  std::string_view path_and_query;  // rendered backend path (with "?query" if any)
  std::string_view host;            // Host header to send
  std::string_view client_ip;       // appended to X-Forwarded-For
  std::string_view proto;           // "http" / "https" for X-Forwarded-Proto
  std::string_view forwarded_host;  // original Host for X-Forwarded-Host
  std::string_view request_id;      // X-Request-Id to send
  int64_t content_length = -1;      // -1 with chunked=false: no body
  bool chunked = false;             // body sent chunked (gateway re-frames)
  // RequestHead::upgrade of an upgrade request: "Connection: upgrade" and Upgrade (its
  // tokens but h2c) are sent. Empty: neither.
  std::string_view upgrade;
};

// Writes the request head for the backend: "METHOD path_and_query HTTP/1.1", end-to-end
// headers from `client` in order (hop-by-hop, named by Connection, Host, Content-Length,
// Transfer-Encoding, Expect, X-Forwarded-* and X-Request-Id dropped), then Host,
// X-Forwarded-For (client values joined by ", ", then client_ip), X-Forwarded-Proto,
// X-Forwarded-Host and X-Request-Id (each only if non-empty), then for an upgrade
// "Connection: upgrade" and Upgrade, then "Transfer-Encoding: chunked" or Content-Length,
// then the blank line. Otherwise no Connection header: HTTP/1.1 keep-alive is the default.
void write_upstream_head(const RequestHead& client, const UpstreamRequest& req, Writer& out);
// The same head in three parts, so the middle one can be rendered again for each attempt
// (another member: its Host; later a signature) while the others stay as written:
// the request line and the client's end-to-end headers; the attempt's headers (Host,
// then `extra`, complete header lines); the gateway's X-Forwarded-*, X-Request-Id,
// framing and the blank line. The start returns the index of the client's first
// X-Forwarded-For line (header_count: none) for the end, so the headers are scanned once.
uint32_t write_upstream_head_start(const RequestHead& client, const UpstreamRequest& req,
                                   Writer& out);
void write_upstream_attempt(std::string_view host, std::string_view extra, Writer& out);
void write_upstream_head_end(const RequestHead& client, const UpstreamRequest& req,
                             uint32_t first_xff, Writer& out);

struct ClientResponse {
  std::string_view request_id;     // echoed as X-Request-Id
  std::string_view extra_headers;  // raw "name: value\r\n" lines the gateway adds
  int64_t content_length = -1;     // -1: use chunked (or none when no_body)
  bool chunked = false;
  bool no_body = false;    // framing then comes from backend.content_length
  bool keep_alive = true;  // false: "Connection: close"
  bool http10 = false;     // client spoke HTTP/1.0: no chunked, close-delimited
  // A 101 relayed: the backend's Upgrade value, sent with "Connection: upgrade" instead of
  // any framing or keep-alive header.
  std::string_view upgrade;
};

// True when the body written after write_client_head() ends only when the client
// connection closes (no length, and chunked not possible or not asked for). The head
// then says "Connection: close" whatever keep_alive says, and the caller must close.
inline bool is_close_delimited(const ClientResponse& r) {
  return !r.no_body && r.content_length < 0 && (!r.chunked || r.http10);
}

// Writes the response head for the client from the backend's head: status line (the
// backend's reason, else reason_phrase()), backend headers minus hop-by-hop, those
// named by Connection, Content-Length and X-Request-Id; then the gateway's extra_headers and
// X-Request-Id; then framing:
//   no_body:            Content-Length of the backend, if it sent one, except on 1xx /
//                       204 (HEAD and 304 advertise the full length, RFC 9110 8.6)
//   content_length>=0:  Content-Length
//   chunked, HTTP/1.1:  Transfer-Encoding: chunked
//   otherwise:          nothing (close-delimited)
// then "Connection: close" (not keep_alive, or close-delimited) or, for HTTP/1.0
// clients kept alive, "Connection: keep-alive"; then the blank line.
void write_client_head(const ResponseHead& backend, const ClientResponse& resp, Writer& out);

// Writes a complete gateway-made error response with a JSON body
// {"error_code":..,"error_msg":..,"request_id":..}. `extra_headers` is raw
// "Name: value\r\n" lines (e.g. Retry-After) or empty.
void write_error(uint16_t status, std::string_view code, std::string_view message,
                 std::string_view request_id, bool keep_alive, std::string_view extra_headers,
                 Writer& out);

// Appends `s` JSON-escaped (without quotes, as write_error's body) to `out`, at most
// `max_out` bytes of it: the text is cut before the first escape that would pass the bound.
// Returns false when it was cut.
bool put_json_escaped(std::string_view s, size_t max_out, Writer& out);

// Appends `s` as a JSON string, quotes included, to `out` (control side: admin answers, the
// redacted configuration).
void append_json_string(std::string_view s, std::string& out);

// Chunk framing for re-chunked bodies.
void write_chunk_header(size_t len, Writer& out);  // "<hex>\r\n"
inline constexpr std::string_view kChunkEnd = "\r\n";
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// The standard phrase of `status`, or "" (see status_reason()).
inline std::string_view reason_phrase(uint16_t status) { return status_reason(status); }

}  // namespace ringway::http
