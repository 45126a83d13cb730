// Header writers for both directions and gateway-made error responses.
#include <algorithm>
#include <array>
#include <initializer_list>

#include "http/text.h"
#include "ringway/http.h"

namespace ringway::http {
namespace {

using internal::AnyToken;
using internal::IEquals;

constexpr std::string_view kCrlf = "\r\n";
// Names of the cascade channel's headers (ringway/cascade.h) start so, in any case.
constexpr std::string_view kCascadePrefix = "x-ringway-cascade-";

void PutHeader(std::string_view name, std::string_view value, Writer& out) {
  out.put(name);
  out.put(": ");
  out.put(value);
  out.put(kCrlf);
}

void PutLengthHeader(uint64_t length, Writer& out) {
  out.put("Content-Length: ");
  out.put_uint(length);
  out.put(kCrlf);
}

bool IsAnyOf(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (IEquals(name, n)) {
      return true;
    }
  }
  return false;
}

// The Connection header values of one head, gathered once per write so that checking
// each header against them does not rescan the head.
class ConnectionNames {
 public:
  ConnectionNames(const Header* headers, uint32_t count) : headers_(headers), count_(count) {
    for (uint32_t i = 0; i < count; ++i) {
      if (!IEquals(headers[i].name, "connection")) {
        continue;
      }
      if (n_ == values_.size()) {
        overflow_ = true;
        break;
      }
      values_[n_++] = headers[i].value;
    }
  }

  bool Names(std::string_view name) const {
    if (overflow_) {
      return named_by_connection(name, headers_, count_);
    }
    for (uint32_t i = 0; i < n_; ++i) {
      if (AnyToken(values_[i], [name](std::string_view t) { return IEquals(t, name); })) {
        return true;
      }
    }
    return false;
  }

  // Hop-by-hop by definition or named by Connection: belongs to this hop only.
  bool IsHop(std::string_view name) const { return is_hop_by_hop(name) || Names(name); }

 private:
  const Header* headers_;
  uint32_t count_;
  std::array<std::string_view, 4> values_;
  uint32_t n_ = 0;
  bool overflow_ = false;
};

// Client X-Forwarded-For values, in order, joined by ", ", then `client_ip`. `first` is
// the index of the first X-Forwarded-For header of `client` (header_count: none).
void PutForwardedFor(const RequestHead& client, uint32_t first, std::string_view client_ip,
                     const ConnectionNames& hop, Writer& out) {
  out.put("X-Forwarded-For: ");
  // Connection may name X-Forwarded-For (then no client value is forwarded); the answer
  // is the same for every such line, so it is asked once.
  if (first < client.header_count && !hop.IsHop(client.headers[first].name)) {
    for (uint32_t i = first; i < client.header_count; ++i) {
      const Header& h = client.headers[i];
      if (!IEquals(h.name, "x-forwarded-for") || h.value.empty()) {
        continue;
      }
      out.put(h.value);
      out.put(", ");
    }
  }
  out.put(client_ip);
  out.put(kCrlf);
}

// JSON string body, without quotes. Control bytes become \uXXXX or short escapes;
// bytes >= 0x80 pass through (UTF-8 stays UTF-8).
template <typename Sink>
void EscapeJson(std::string_view s, Sink&& sink) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        sink("\\\"");
        break;
      case '\\':
        sink("\\\\");
        break;
      case '\n':
        sink("\\n");
        break;
      case '\r':
        sink("\\r");
        break;
      case '\t':
        sink("\\t");
        break;
      case '\b':
        sink("\\b");
        break;
      case '\f':
        sink("\\f");
        break;
      default:
        if (u < 0x20) {
          const char esc[6] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
          sink(std::string_view(esc, 6));
        } else {
          sink(std::string_view(&c, 1));
        }
    }
  }
}

// "h2c", with or without a version ("h2c/1"): HTTP/2 over cleartext, never passed.
bool IsH2c(std::string_view token) { return IEquals(token.substr(0, token.find('/')), "h2c"); }

// "Connection: upgrade" and the Upgrade value's tokens other than h2c: the hop-by-hop pair
// a switch of protocols needs on each hop.
void PutUpgrade(std::string_view upgrade, Writer& out) {
  out.put("Connection: upgrade\r\nUpgrade: ");
  bool first = true;
  AnyToken(upgrade, [&](std::string_view t) {
    if (!IsH2c(t)) {
      out.put(first ? "" : ", ");
      out.put(t);
      first = false;
    }
    return false;
  });
  out.put(kCrlf);
}

size_t JsonEscapedSize(std::string_view s) {
  size_t n = 0;
  EscapeJson(s, [&n](std::string_view piece) { n += piece.size(); });
  return n;
}

}  // namespace

bool upgrade_passes(std::string_view upgrade) {
  return AnyToken(upgrade, [](std::string_view t) { return !IsH2c(t); });
}

bool is_hop_by_hop(std::string_view name) {
  return IsAnyOf(name, {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"});
}

bool named_by_connection(std::string_view name, const Header* headers, uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) {
    if (IEquals(headers[i].name, "connection") &&
        AnyToken(headers[i].value, [name](std::string_view t) { return IEquals(t, name); })) {
      return true;
    }
  }
  return false;
}

uint32_t write_upstream_head_start(const RequestHead& client, const UpstreamRequest& req,
                                   Writer& out) {
  out.put(req.method);
  out.put(' ');
  out.put(req.path_and_query);
  out.put(" HTTP/1.1\r\n");
  const ConnectionNames hop(client.headers, client.header_count);
  uint32_t first_xff = client.header_count;  // none yet
  for (uint32_t i = 0; i < client.header_count; ++i) {
    const Header& h = client.headers[i];
    if (IEquals(h.name, "x-forwarded-for")) {
      first_xff = std::min(first_xff, i);
      continue;
    }
    // The cascade channel's headers belong to one hop between two instances: a cascading
    // instance writes its own per attempt, a cascaded one has checked them (cascade.h).
    if (IsAnyOf(h.name, {"host", "content-length", "expect", "x-forwarded-proto",
                         "x-forwarded-host", "x-request-id"}) ||
        hop.IsHop(h.name) || IEquals(h.name.substr(0, kCascadePrefix.size()), kCascadePrefix)) {
      continue;
    }
    PutHeader(h.name, h.value, out);
  }
  return first_xff;
}

void write_upstream_attempt(std::string_view host, std::string_view extra, Writer& out) {
  PutHeader("Host", host, out);
  out.put(extra);
}

void write_upstream_head_end(const RequestHead& client, const UpstreamRequest& req,
                             uint32_t first_xff, Writer& out) {
  // Connection is looked up only when there is a client X-Forwarded-For it could name.
  const ConnectionNames hop(client.headers,
                            first_xff < client.header_count ? client.header_count : 0);
  PutForwardedFor(client, first_xff, req.client_ip, hop, out);
  if (!req.proto.empty()) {
    PutHeader("X-Forwarded-Proto", req.proto, out);
  }
  if (!req.forwarded_host.empty()) {
    PutHeader("X-Forwarded-Host", req.forwarded_host, out);
  }
  if (!req.request_id.empty()) {
    PutHeader("X-Request-Id", req.request_id, out);
  }
  if (!req.upgrade.empty()) {
    PutUpgrade(req.upgrade, out);
  }
  if (req.chunked) {
    out.put("Transfer-Encoding: chunked\r\n");
  } else if (req.content_length >= 0) {
    PutLengthHeader(static_cast<uint64_t>(req.content_length), out);
  }
  out.put(kCrlf);
}

void write_upstream_head(const RequestHead& client, const UpstreamRequest& req, Writer& out) {
  const uint32_t first_xff = write_upstream_head_start(client, req, out);
  write_upstream_attempt(req.host, {}, out);
  write_upstream_head_end(client, req, first_xff, out);
}

void write_client_head(const ResponseHead& backend, const ClientResponse& resp, Writer& out) {
  out.put("HTTP/1.1 ");
  out.put_uint(backend.status);
  out.put(' ');
  out.put(backend.reason.empty() ? reason_phrase(backend.status) : backend.reason);
  out.put(kCrlf);
  const ConnectionNames hop(backend.headers, backend.header_count);
  for (uint32_t i = 0; i < backend.header_count; ++i) {
    const Header& h = backend.headers[i];
    if (IsAnyOf(h.name, {"content-length", "x-request-id"}) || hop.IsHop(h.name)) {
      continue;
    }
    PutHeader(h.name, h.value, out);
  }
  out.put(resp.extra_headers);
  if (!resp.request_id.empty()) {
    PutHeader("X-Request-Id", resp.request_id, out);
  }
  if (!resp.upgrade.empty()) {
    PutUpgrade(resp.upgrade, out);  // a 101: no framing, the connection switches
    out.put(kCrlf);
    return;
  }
  if (resp.no_body) {
    // HEAD and 304 advertise the length the full response would have (RFC 9110 8.6);
    // 1xx and 204 must not carry one.
    const bool may_advertise = backend.status != 204 && backend.status / 100 != 1;
    if (may_advertise && backend.content_length >= 0) {
      PutLengthHeader(static_cast<uint64_t>(backend.content_length), out);
    }
  } else if (resp.content_length >= 0) {
    PutLengthHeader(static_cast<uint64_t>(resp.content_length), out);
  } else if (resp.chunked && !resp.http10) {
    out.put("Transfer-Encoding: chunked\r\n");
  }
  if (!resp.keep_alive || is_close_delimited(resp)) {
    out.put("Connection: close\r\n");
  } else if (resp.http10) {
    out.put("Connection: keep-alive\r\n");
  }
  out.put(kCrlf);
}

void write_error(uint16_t status, std::string_view code, std::string_view message,
                 std::string_view request_id, bool keep_alive, std::string_view extra_headers,
                 Writer& out) {
  static constexpr std::string_view kCode = "{\"error_code\":\"";
  static constexpr std::string_view kMsg = "\",\"error_msg\":\"";
  static constexpr std::string_view kId = "\",\"request_id\":\"";
  static constexpr std::string_view kEnd = "\"}";
  const size_t body_len = kCode.size() + JsonEscapedSize(code) + kMsg.size() +
                          JsonEscapedSize(message) + kId.size() + JsonEscapedSize(request_id) +
                          kEnd.size();
  out.put("HTTP/1.1 ");
  out.put_uint(status);
  out.put(' ');
  out.put(reason_phrase(status));
  out.put("\r\nContent-Type: application/json\r\n");
  PutLengthHeader(body_len, out);
  if (!request_id.empty()) {
    PutHeader("X-Request-Id", request_id, out);
  }
  if (!keep_alive) {
    out.put("Connection: close\r\n");
  }
  out.put(extra_headers);
  out.put(kCrlf);
  auto put = [&out](std::string_view piece) { out.put(piece); };
  out.put(kCode);
  EscapeJson(code, put);
  out.put(kMsg);
  EscapeJson(message, put);
  out.put(kId);
  EscapeJson(request_id, put);
  out.put(kEnd);
}

void write_chunk_header(size_t len, Writer& out) {
  out.put_hex(len);
  out.put(kCrlf);
}

void append_json_string(std::string_view s, std::string& out) {
  out += '"';
  EscapeJson(s, [&out](std::string_view piece) { out += piece; });
  out += '"';
}

bool put_json_escaped(std::string_view s, size_t max_out, Writer& out) {
  size_t used = 0;
  bool whole = true;
  EscapeJson(s, [&](std::string_view piece) {
    if (!whole || used + piece.size() > max_out) {
      whole = false;
      return;
    }
    used += piece.size();
    out.put(piece);
  });
  return whole;
}

}  // namespace ringway::http
