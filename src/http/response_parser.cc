// ResponseParser: backend responses. Every refusal is a 502 for the client.
#include <llhttp.h>

#include <cstdint>

#include "http/parser_core.h"
#include "http/text.h"
#include "ringway/http.h"

namespace ringway::http {

using internal::Fault;
using internal::HeadVerdict;

std::string_view ResponseHead::get(std::string_view name) const {
  return internal::FindHeader(headers, header_count, name);
}

struct ResponseParser::Impl : internal::ParserWithHead<ResponseParser::Impl> {
  Impl(const ParserLimits& limits, BodySink sink)
      : ParserWithHead(HTTP_RESPONSE, internal::Side::kResponse, limits, sink) {}

  void Reset(bool head_req, bool upgrade_req) {
    ResetMessage();
    head = ResponseHead{};
    head_request = head_req;
    upgrade_request = upgrade_req;
  }

  // The connection may carry another message after this one: llhttp_should_keep_alive()
  // without its end-of-body rule, which does not know about HEAD before the body is
  // skipped; close-delimited bodies are accounted for by the caller.
  bool ConnectionReusable() const {
    if (llhttp().http_minor >= 1) {
      return (llhttp().flags & F_CONNECTION_CLOSE) == 0;
    }
    return (llhttp().flags & F_CONNECTION_KEEP_ALIVE) != 0;
  }

  int HeadersComplete() {
    const uint16_t status = llhttp().status_code;
    if (!version_ok()) {
      return Fail(Fault::kVersion);
    }
    // A status code is three digits (RFC 9112 4); llhttp 8 also takes one or two ("HTTP/1.1 3
    // x"), which would reach the client, the breaker's status tests and the access log.
    if (status < 100) {
      return Fail(Fault::kMalformed);
    }
    // llhttp keeps Content-Length as uint64: a value past INT64_MAX would read as negative
    // (close-delimited) here. Found by tests/fuzz/fuzz_response.
    if ((llhttp().flags & F_CONTENT_LENGTH) != 0 && llhttp().content_length > INT64_MAX) {
      return Fail(Fault::kBadCl);
    }
    if (status == 101) {
      return SwitchingProtocols();
    }
    if (status / 100 == 1) {
      return FinishHead(HeadVerdict::kInterim);
    }
    // A coding other than chunked cannot be forwarded: the writer drops
    // Transfer-Encoding, so the client would get coded bytes it cannot decode.
    if (!facts().te_ok()) {
      return Fail(Fault::kBadTe);
    }
    FillCommonHead(head);
    head.status = status;
    head.reason = start_text();
    head.no_body = head_request || status == 204 || status == 304;
    head.close_delimited = !head.no_body && !head.chunked && head.content_length < 0;
    head.keep_alive = ConnectionReusable() && !head.close_delimited;
    // 1 (no body) for HEAD / 204 / 304 even with Content-Length: llhttp would otherwise
    // wait for that many body bytes.
    return FinishHead(head.no_body ? HeadVerdict::kNoBody : HeadVerdict::kBody);
  }

  // A 101 is the last message on the connection: what follows is the other protocol. Taken
  // only as the answer to an upgrade request, and only with Upgrade and "Connection:
  // upgrade" (llhttp's upgrade flag), which the client is relayed.
  int SwitchingProtocols() {
    if (!upgrade_request || llhttp().upgrade == 0) {
      return Fail(Fault::kSwitching);
    }
    FillCommonHead(head);
    head.status = 101;
    head.reason = start_text();
    head.no_body = true;
    head.keep_alive = false;
    return FinishHead(HeadVerdict::kNoBody);
  }

  ResponseHead head;
  bool head_request = false;
  bool upgrade_request = false;
};

ResponseParser::ResponseParser(const ParserLimits& limits, BodySink sink)
    : impl_(std::make_unique<Impl>(limits, sink)) {
  impl_->Reset(false, false);
}

ResponseParser::~ResponseParser() = default;

void ResponseParser::reset(bool head_request, bool upgrade_request) {
  impl_->Reset(head_request, upgrade_request);
}

void ResponseParser::set_limits(const ParserLimits& limits) { impl_->set_limits(limits); }

FeedResult ResponseParser::feed(const char* data, size_t len) { return impl_->Feed(data, len); }

FeedResult ResponseParser::finish() { return impl_->Finish(); }

const ResponseHead& ResponseParser::head() const { return impl_->head; }

const ParseError& ResponseParser::error() const { return impl_->error(); }

uint64_t ResponseParser::body_bytes() const { return impl_->body_bytes(); }

}  // namespace ringway::http
