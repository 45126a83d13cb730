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

// Why a request was refused: the status to answer and a stable code (README lists them).
struct ParseError {
  uint16_t status = 0;          // 400, 413, 414, 431, 501, 505
  std::string_view code;        // "RW.0400" style, stable
  std::string_view message;     // human text for the JSON body
};

struct ParserLimits {
  uint32_t max_header_bytes = 32768;  // request line + header lines
  uint32_t max_headers = 100;
  uint64_t max_body_bytes = 12582912;
};

// Parsed request head. `headers` excludes nothing: hop-by-hop filtering is the writer's.
struct RequestHead {
  uint8_t method = 0;              // llhttp_method_t value
  std::string_view method_name;    // "GET"
  std::string_view target;         // as received: "/a/b?x=1"
  std::string_view path;           // target without query
  std::string_view query;          // after '?', without it; empty if none
  uint8_t http_major = 1;
  uint8_t http_minor = 1;
  const Header* headers = nullptr;
  uint32_t header_count = 0;
  std::string_view host;           // Host value (may include :port)
  int64_t content_length = -1;     // -1: none
  bool chunked = false;
  bool keep_alive = true;          // after Connection / version rules
  bool expect_continue = false;
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
  // Feeds bytes. After kHeadComplete call feed() again with the rest; after
  // kMessageComplete call reset() before feeding the next message.
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
  void reset(bool head_request);
  // Interim 1xx responses (other than 101) are consumed silently and never reported.
  FeedResult feed(const char* data, size_t len);
  // The backend closed: completes a close-delimited body, else kError if mid-message.
  FeedResult finish();
  const ResponseHead& head() const;
  const ParseError& error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- writers (all write into a Writer; the caller checks Writer::ok()) ----

// True for hop-by-hop header names (Connection, Keep-Alive, TE, Trailer, Upgrade,
// Transfer-Encoding, Proxy-*), case-insensitive.
bool is_hop_by_hop(std::string_view name);

// True if `name` is listed in any Connection header value of `headers`.
bool named_by_connection(std::string_view name, const Header* headers, uint32_t count);

struct UpstreamRequest {
  std::string_view method;         // method to send
  std::string_view path_and_query; // rendered backend path (with "?query" if any)
  std::string_view host;           // Host header to send
  std::string_view client_ip;      // appended to X-Forwarded-For
  std::string_view proto;          // "http" / "https" for X-Forwarded-Proto
  std::string_view forwarded_host; // original Host for X-Forwarded-Host
  std::string_view request_id;     // X-Request-Id to send
  int64_t content_length = -1;     // -1 with chunked=false: no body
  bool chunked = false;            // body sent chunked (gateway re-frames)
};

// Writes the request head for the backend: request line, end-to-end headers from
// `client` (hop-by-hop, Host, Content-Length, Transfer-Encoding, Expect, X-Forwarded-*
// and X-Request-Id replaced), then the gateway's own, then the blank line.
void write_upstream_head(const RequestHead& client, const UpstreamRequest& req, Writer& out);

struct ClientResponse {
  std::string_view request_id;   // echoed as X-Request-Id
  int64_t content_length = -1;   // -1: use chunked (or none when no_body)
  bool chunked = false;
  bool no_body = false;
  bool keep_alive = true;        // false: "Connection: close"
  bool http10 = false;           // client spoke HTTP/1.0: no chunked, close-delimited
};

// Writes the response head for the client from the backend's head.
void write_client_head(const ResponseHead& backend, const ClientResponse& resp, Writer& out);

// Writes a complete gateway-made error response with a JSON body
// {"error_code":..,"error_msg":..,"request_id":..}. `extra_headers` is raw
// "Name: value\r\n" lines (e.g. Retry-After) or empty.
void write_error(uint16_t status, std::string_view code, std::string_view message,
                 std::string_view request_id, bool keep_alive, std::string_view extra_headers,
                 Writer& out);

// Chunk framing for re-chunked bodies.
void write_chunk_header(size_t len, Writer& out);  // "<hex>\r\n"
inline constexpr std::string_view kChunkEnd = "\r\n";
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

std::string_view reason_phrase(uint16_t status);

}  // namespace ringway::http
