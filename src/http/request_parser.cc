// RequestParser: client requests. The head is accepted only after the checks llhttp 8.1
// leaves to us (see ParserCore and HeadersComplete below).
#include <llhttp.h>

#include "http/parser_core.h"
#include "http/text.h"
#include "ringway/http.h"

namespace ringway::http {
namespace {

using internal::Fault;
using internal::HeadVerdict;
using internal::IEquals;

struct Target {
  std::string_view authority;  // non-empty for absolute-form
  std::string_view path;
  std::string_view query;
};

// Origin-form "/p?q" or absolute-form "http(s)://authority[/p][?q]" (RFC 9112 3.2).
// Absolute-form is accepted as gateways do: the path comes from it and the authority
// replaces Host for routing (RFC 9112 3.2.2). Fragments and userinfo are refused.
bool SplitTarget(std::string_view target, Target* out) {
  static constexpr std::string_view kRoot = "/";
  std::string_view rest = target;
  if (target.empty()) {
    return false;
  }
  if (target.front() != '/') {
    const size_t sep = target.find("://");
    if (sep == std::string_view::npos ||
        !(IEquals(target.substr(0, sep), "http") || IEquals(target.substr(0, sep), "https"))) {
      return false;
    }
    rest = target.substr(sep + 3);
    const size_t auth_end = rest.find_first_of("/?");
    out->authority = rest.substr(0, auth_end);
    if (out->authority.empty() || out->authority.find('@') != std::string_view::npos) {
      return false;
    }
    rest = auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
  }
  if (rest.find('#') != std::string_view::npos) {
    return false;
  }
  const size_t q = rest.find('?');
  out->path = rest.substr(0, q);
  out->query = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  if (out->path.empty()) {
    out->path = kRoot;
  }
  return true;
}

}  // namespace

std::string_view RequestHead::get(std::string_view name) const {
  return internal::FindHeader(headers, header_count, name);
}

struct RequestParser::Impl : internal::ParserWithHead<RequestParser::Impl> {
  Impl(const ParserLimits& limits, BodySink sink)
      : ParserWithHead(HTTP_REQUEST, internal::Side::kRequest, limits, sink) {}

  void Reset() {
    ResetMessage();
    head = RequestHead{};
  }

  // The checks llhttp does not make, in the order a client is told about them.
  int HeadersComplete() {
    if (!version_ok()) {
      return Fail(Fault::kVersion);
    }
    if (llhttp().method == HTTP_CONNECT) {
      return Fail(Fault::kConnect);
    }
    if (!facts().te_ok()) {
      return Fail(Fault::kBadTe);  // llhttp 8.1 accepts "gzip, chunked" and friends
    }
    if (facts().host_count > 1) {
      return Fail(Fault::kDuplicateHost);
    }
    if (facts().host_count == 0 && llhttp().http_minor == 1) {
      return Fail(Fault::kNoHost);
    }
    Target target;
    if (!SplitTarget(start_text(), &target)) {
      return Fail(Fault::kBadTarget);
    }
    const bool has_length = (llhttp().flags & F_CONTENT_LENGTH) != 0;
    if (has_length && llhttp().content_length > limits().max_body_bytes) {
      return Fail(Fault::kBodyTooLarge);
    }
    FillHead(target);
    return FinishHead(HeadVerdict::kBody);
  }

  void FillHead(const Target& target) {
    FillCommonHead(head);
    head.method = llhttp().method;
    head.method_name = llhttp_method_name(static_cast<llhttp_method_t>(llhttp().method));
    head.target = start_text();
    head.path = target.path;
    head.query = target.query;
    head.host = target.authority.empty() ? facts().host : target.authority;
    head.keep_alive = llhttp_should_keep_alive(&llhttp()) != 0;
    // llhttp flags Upgrade + "Connection: upgrade". Passed on HTTP/1.1 only (RFC 9110 7.8:
    // ignored on 1.0), without a body, and for a protocol other than h2c (HTTP/2 is not
    // spoken to backends); otherwise the request is answered as an ordinary one.
    const bool has_body = (llhttp().flags & F_CHUNKED) != 0 || llhttp().content_length > 0;
    if (llhttp().upgrade != 0 && llhttp().http_minor == 1 && !has_body) {
      const std::string_view asked = head.get("upgrade");
      if (upgrade_passes(asked)) {
        head.upgrade = asked;
      }
    }
    // RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored.
    head.expect_continue = facts().expect_continue && llhttp().http_minor == 1;
  }

  RequestHead head;
};

RequestParser::RequestParser(const ParserLimits& limits, BodySink sink)
    : impl_(std::make_unique<Impl>(limits, sink)) {
  impl_->Reset();
}

RequestParser::~RequestParser() = default;

void RequestParser::reset() { impl_->Reset(); }

void RequestParser::set_limits(const ParserLimits& limits) { impl_->set_limits(limits); }

FeedResult RequestParser::feed(const char* data, size_t len) { return impl_->Feed(data, len); }

uint32_t RequestParser::head_bytes() const { return impl_->head_bytes(); }

const RequestHead& RequestParser::head() const { return impl_->head; }

const ParseError& RequestParser::error() const { return impl_->error(); }

uint64_t RequestParser::body_bytes() const { return impl_->body_bytes(); }

FeedResult RequestParser::finish() { return impl_->Finish(); }

}  // namespace ringway::http
