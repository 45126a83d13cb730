#include <simdjson.h>

#include <cstdlib>
#include <string>

#include "ringway/etcd.h"

namespace ringway::etcd {
namespace {

namespace dom = simdjson::dom;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int decode_char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// A JSON string of base64 or digits, which need no escaping.
std::string jstr(std::string_view s) { return "\"" + std::string(s) + "\""; }

// etcd's gateway spells int64 as strings ("revision":"12"); accept numbers too.
int64_t int_field(dom::object o, std::string_view key) {
  dom::element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS) {
    return 0;
  }
  int64_t n = 0;
  if (e.get_int64().get(n) == simdjson::SUCCESS) {
    return n;
  }
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) {
    return std::strtoll(std::string(s).c_str(), nullptr, 10);
  }
  return 0;
}

// header.revision of an answer (or of a watch message's result); 0 without one.
int64_t header_revision(dom::object o) {
  dom::object header;
  return o.at_key("header").get_object().get(header) == simdjson::SUCCESS
             ? int_field(header, "revision")
             : 0;
}

bool bool_field(dom::object o, std::string_view key) {
  bool b = false;
  return o.at_key(key).get_bool().get(b) == simdjson::SUCCESS && b;
}

// An error answer: {"error": "...", "message": "...", "code": N}.
std::string error_of(dom::object o) {
  std::string_view s;
  if (o.at_key("message").get_string().get(s) == simdjson::SUCCESS ||
      o.at_key("error").get_string().get(s) == simdjson::SUCCESS) {
    return "etcd: " + std::string(s);
  }
  return "";
}

bool read_kv(dom::object o, KeyValue* kv) {
  std::string_view key;
  std::string_view value;
  if (o.at_key("key").get_string().get(key) != simdjson::SUCCESS) {
    return false;
  }
  std::optional<std::string> k = base64_decode(key);
  if (!k) {
    return false;
  }
  kv->key = std::move(*k);
  if (o.at_key("value").get_string().get(value) == simdjson::SUCCESS) {
    std::optional<std::string> v = base64_decode(value);
    if (!v) {
      return false;
    }
    kv->value = std::move(*v);
  }
  kv->mod_revision = int_field(o, "mod_revision");
  return true;
}

// Parses `body` as a JSON object into `doc`; an error message otherwise.
std::string parse_object(dom::parser& parser, std::string_view body, dom::object* out) {
  simdjson::padded_string padded(body);
  dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS ||
      root.get_object().get(*out) != simdjson::SUCCESS) {
    return "etcd: malformed answer";
  }
  return error_of(*out);
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                 uint8_t(bytes[i + 2]);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < bytes.size()) {
    uint32_t n = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) {
      n |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    }
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') {
    text.remove_suffix(1);
  }
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = decode_char(c);
    if (v < 0) {
      return std::nullopt;
    }
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<uint8_t>(end.back()) != 0xff) {
      end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::string http_request(std::string_view host, std::string_view path, std::string_view body) {
  std::string r;
  r.reserve(128 + body.size());
  r.append("POST ").append(path).append(" HTTP/1.0\r\nHost: ").append(host);
  r.append("\r\nContent-Type: application/json\r\nContent-Length: ");
  r.append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return r;
}

std::string range_body(std::string_view prefix) {
  return "{\"key\":" + jstr(base64_encode(prefix)) +
         ",\"range_end\":" + jstr(base64_encode(prefix_end(prefix))) + "}";
}

std::string watch_body(std::string_view prefix, int64_t start_revision) {
  return "{\"create_request\":{\"key\":" + jstr(base64_encode(prefix)) +
         ",\"range_end\":" + jstr(base64_encode(prefix_end(prefix))) + ",\"start_revision\":\"" +
         std::to_string(start_revision) + "\"}}";
}

std::string txn_body(const TxnOps& ops) {
  // Guard: every key under the prefix was last modified at or before read_revision (a put
  // or a create after it fails the transaction; `config push` also writes a stamp key, so a
  // concurrent push always changes the range).
  std::string b = "{\"compare\":[{\"target\":\"MOD\",\"result\":\"LESS\",\"key\":" +
                  jstr(base64_encode(ops.prefix)) +
                  ",\"range_end\":" + jstr(base64_encode(prefix_end(ops.prefix))) +
                  ",\"mod_revision\":\"" + std::to_string(ops.read_revision + 1) +
                  "\"}],\"success\":[";
  bool first = true;
  for (const auto& [key, value] : ops.puts) {
    b += first ? "" : ",";
    first = false;
    b += "{\"request_put\":{\"key\":" + jstr(base64_encode(key)) +
         ",\"value\":" + jstr(base64_encode(value)) + "}}";
  }
  for (const std::string& key : ops.deletes) {
    b += first ? "" : ",";
    first = false;
    b += "{\"request_delete_range\":{\"key\":" + jstr(base64_encode(key)) + "}}";
  }
  b += "]}";
  return b;
}

std::optional<HttpAnswer> split_response(std::string_view bytes) {
  size_t head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string_view::npos || bytes.substr(0, 5) != "HTTP/") {
    return std::nullopt;
  }
  size_t sp = bytes.find(' ');
  if (sp == std::string_view::npos || sp + 4 > head_end) {
    return std::nullopt;
  }
  int status = 0;
  for (size_t i = sp + 1; i < sp + 4; ++i) {
    if (bytes[i] < '0' || bytes[i] > '9') {
      return std::nullopt;
    }
    status = status * 10 + (bytes[i] - '0');
  }
  return HttpAnswer{status, bytes.substr(head_end + 4)};
}

RangeResult parse_range(std::string_view body) {
  RangeResult r;
  dom::parser parser;
  dom::object o;
  r.error = parse_object(parser, body, &o);
  if (!r.error.empty()) {
    return r;
  }
  if (!o.at_key("header").is_object()) {
    r.error = "etcd: answer without a header";
    return r;
  }
  r.revision = header_revision(o);
  dom::array kvs;
  if (o.at_key("kvs").get_array().get(kvs) == simdjson::SUCCESS) {
    for (dom::element e : kvs) {
      dom::object kv;
      if (e.get_object().get(kv) != simdjson::SUCCESS || !read_kv(kv, &r.kvs.emplace_back())) {
        r.error = "etcd: malformed key-value";
        return r;
      }
    }
  }
  if (bool_field(o, "more")) {
    r.error = "etcd: range answer truncated (more: true)";
  }
  return r;
}

WatchMessage parse_watch_line(std::string_view line) {
  WatchMessage m;
  dom::parser parser;
  dom::object o;
  m.error = parse_object(parser, line, &o);
  if (!m.error.empty()) {
    return m;
  }
  dom::object result;
  if (o.at_key("result").get_object().get(result) != simdjson::SUCCESS) {
    m.error = "etcd: watch message without a result";
    return m;
  }
  m.revision = header_revision(result);
  m.created = bool_field(result, "created");
  m.canceled = bool_field(result, "canceled");
  m.compact_revision = int_field(result, "compact_revision");
  dom::array events;
  if (result.at_key("events").get_array().get(events) == simdjson::SUCCESS) {
    for (dom::element e : events) {
      dom::object ev;
      dom::object kv;
      WatchEvent& out = m.events.emplace_back();
      std::string_view type;
      if (e.get_object().get(ev) != simdjson::SUCCESS ||
          ev.at_key("kv").get_object().get(kv) != simdjson::SUCCESS || !read_kv(kv, &out.kv)) {
        m.error = "etcd: malformed watch event";
        return m;
      }
      out.is_delete =
          ev.at_key("type").get_string().get(type) == simdjson::SUCCESS && type == "DELETE";
    }
  }
  return m;
}

TxnResult parse_txn(std::string_view body) {
  TxnResult r;
  dom::parser parser;
  dom::object o;
  r.error = parse_object(parser, body, &o);
  if (!r.error.empty()) {
    return r;
  }
  r.revision = header_revision(o);
  r.succeeded = bool_field(o, "succeeded");
  return r;
}

}  // namespace ringway::etcd
