#include "config/values.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ringway::config {

std::optional<Method> parse_method(std::string_view s) {
  for (const auto& [name, method] : internal::kMethodChoices) {
    if (name == s) {
      return method;
    }
  }
  return std::nullopt;
}

std::string_view method_name(Method m) {
  for (const auto& [name, method] : internal::kMethodChoices) {
    if (method == m) {
      return name;
    }
  }
  return "ANY";
}

namespace {

// A decimal port 0..65535 without sign or spaces.
std::optional<uint16_t> parse_port(std::string_view s) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || s.size() > 5 || ec != std::errc() || end != s.data() + s.size() ||
      value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

bool inet_ok(int family, const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(family, host.c_str(), buf) == 1;
}

}  // namespace

std::optional<Address> parse_address(std::string_view s) {
  Address a;
  a.text = std::string(s);
  size_t colon = 0;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return std::nullopt;
    }
    a.host = std::string(s.substr(1, close - 1));
    a.v6 = true;
    colon = close + 1;
    if (!inet_ok(AF_INET6, a.host)) {
      return std::nullopt;
    }
  } else {
    colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    a.host = std::string(s.substr(0, colon));
    if (!internal::is_host_name(a.host)) {
      return std::nullopt;
    }
  }
  std::optional<uint16_t> port = parse_port(s.substr(colon + 1));
  if (!port) {
    return std::nullopt;
  }
  a.port = *port;
  return a;
}

}  // namespace ringway::config

namespace ringway::config::internal {

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool all_name_chars(std::string_view s) { return std::all_of(s.begin(), s.end(), is_name_char); }

// RFC 3986 pchar (without percent-decoding checks): what a path segment may hold.
bool is_path_char(char c) {
  return is_name_char(c) || std::string_view(".~%!$&'()*+,;=:@").find(c) != std::string_view::npos;
}

std::string bad_char_message(char c) { return "must not contain " + quote_char(c); }

}  // namespace

std::string quote(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out = "\"";
  for (char c : s.substr(0, kMax)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  out += s.size() > kMax ? "\"..." : "\"";
  return out;
}

std::string quote_char(char c) {
  if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", static_cast<unsigned char>(c));
    return buf;
  }
  return std::string("\"") + c + "\"";
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

bool is_name(std::string_view s) { return !s.empty() && s.size() <= 64 && all_name_chars(s); }

bool is_variable_name(std::string_view s) {
  bool letter = !s.empty() && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'));
  return letter && s.size() >= 3 && s.size() <= 32 && all_name_chars(s);
}

bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = std::min(s.find('.', start), s.size());
    std::string_view label = s.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || !all_name_chars(label)) {
      return false;
    }
    start = dot + 1;
  }
  return true;
}

std::string host_port(std::string_view host, uint16_t port) {
  bool v6 = host.find(':') != std::string_view::npos;
  return (v6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" + std::to_string(port);
}

bool is_ip_literal(const Address& a) { return a.v6 || inet_ok(AF_INET, a.host); }

std::string check_http_codes(std::string_view s, std::vector<std::pair<uint16_t, uint16_t>>* out) {
  std::string message =
      "must be status codes 100-599 or ranges like 200-299, separated by "
      "commas (got " +
      quote(s) + ")";
  out->clear();
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = std::min(s.find(',', start), s.size());
    std::string_view item = s.substr(start, comma - start);
    size_t dash = item.find('-');
    std::optional<uint16_t> lo = parse_port(item.substr(0, dash));
    std::optional<uint16_t> hi =
        dash == std::string_view::npos ? lo : parse_port(item.substr(dash + 1));
    if (!lo || !hi || *lo < 100 || *hi > 599 || *lo > *hi) {
      out->clear();
      return message;
    }
    out->emplace_back(*lo, *hi);
    start = comma + 1;
  }
  return "";
}

namespace {

// One `{name}` / `{name+}` segment of an API req_uri; `last` says if `+` is allowed.
std::string check_param_segment(std::string_view seg, bool last, PathPattern* out) {
  bool whole = seg.size() >= 2 && seg.front() == '{' && seg.back() == '}' &&
               seg.find_first_of("{}", 1) == seg.size() - 1;
  if (!whole) {
    return "a parameter must be a whole segment like {id} (got " + quote(seg) + ")";
  }
  std::string_view name = seg.substr(1, seg.size() - 2);
  bool rest = !name.empty() && name.back() == '+';
  if (rest) {
    name.remove_suffix(1);
  }
  if (!is_name(name)) {
    return "parameter " + quote(seg) + ": name " + std::string(kNameRule);
  }
  if (rest && !last) {
    return "parameter " + quote(seg) + " must be the last segment";
  }
  if (std::find(out->params.begin(), out->params.end(), name) != out->params.end()) {
    return "duplicate parameter " + quote(seg);
  }
  out->params.emplace_back(name);
  out->shape += rest ? "{+}" : "{}";
  return "";
}

// Checks the common frame of req_uri and templates: leading '/', length.
std::string check_uri_frame(std::string_view uri) {
  if (uri.empty() || uri.front() != '/') {
    return "must start with \"/\" (got " + quote(uri) + ")";
  }
  if (uri.size() > kMaxUriLength) {
    return "must be at most 512 characters (got " + std::to_string(uri.size()) + ")";
  }
  return "";
}

}  // namespace

std::string check_req_uri(std::string_view uri, PathPattern* out) {
  if (std::string frame = check_uri_frame(uri); !frame.empty()) {
    return frame;
  }
  size_t start = 1;
  while (start <= uri.size()) {
    size_t slash = std::min(uri.find('/', start), uri.size());
    std::string_view seg = uri.substr(start, slash - start);
    bool last = slash == uri.size();
    out->shape += '/';
    if (seg.empty() && !last) {
      return "must not contain an empty segment (\"//\")";
    }
    if (seg.find_first_of("{}") != std::string_view::npos) {
      if (std::string m = check_param_segment(seg, last, out); !m.empty()) {
        return m;
      }
    } else if (auto bad = std::find_if_not(seg.begin(), seg.end(), is_path_char);
               bad != seg.end()) {
      return bad_char_message(*bad);
    } else {
      out->shape += seg;
    }
    start = slash + 1;
  }
  if (out->params.size() > kMaxPathParams) {
    return "must have at most 16 parameters (got " + std::to_string(out->params.size()) + ")";
  }
  return "";
}

namespace {

// The `{param}` or `#variable#` reference starting at t[at]; sets `end` past it.
std::string check_reference(std::string_view t, size_t at, size_t* end, TemplateRefs* out) {
  char open = t[at];
  char close = open == '{' ? '}' : '#';
  size_t stop = t.find(close, at + 1);
  if (stop == std::string_view::npos) {
    return std::string("unterminated \"") + open + "\"";
  }
  std::string_view name = t.substr(at + 1, stop - at - 1);
  std::string_view ref = t.substr(at, stop - at + 1);
  *end = stop + 1;
  if (open == '#') {
    if (!is_variable_name(name)) {
      return "variable " + quote(ref) + ": name " + std::string(kVariableRule);
    }
    out->variables.emplace(name);
  } else {
    if (!name.empty() && name.back() == '+') {
      return "write parameter " + quote(ref) + " as {" +
             std::string(name.substr(0, name.size() - 1)) + "}";
    }
    if (!is_name(name)) {
      return "parameter " + quote(ref) + ": name " + std::string(kNameRule);
    }
    out->params.emplace(name);
  }
  return "";
}

}  // namespace

std::string check_template(std::string_view t, TemplateRefs* out) {
  if (std::string frame = check_uri_frame(t); !frame.empty()) {
    return frame;
  }
  size_t i = 0;
  while (i < t.size()) {
    char c = t[i];
    if (c == '{' || c == '#') {
      if (std::string m = check_reference(t, i, &i, out); !m.empty()) {
        return m;
      }
    } else if (c != '/' && !is_path_char(c)) {
      return bad_char_message(c);
    } else {
      ++i;
    }
  }
  return "";
}

std::string resolve_path(std::string_view base_dir, std::string_view p) {
  if (p.empty() || p.front() == '/' || base_dir.empty() || base_dir == ".") {
    return std::string(p);
  }
  std::string out(base_dir);
  if (out.back() != '/') {
    out += '/';
  }
  return out + std::string(p);
}

std::string read_file(const std::string& path, std::string* out, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::string text;
  ssize_t n = fd < 0 ? -1 : 0;
  char buf[4096];
  while (fd >= 0 && text.size() <= max_bytes && (n = ::read(fd, buf, sizeof buf)) > 0) {
    text.append(buf, static_cast<size_t>(n));
  }
  int err = errno;
  if (fd >= 0) {
    ::close(fd);
  }
  if (n < 0) {
    return "cannot read " + quote(path) + ": " + std::strerror(err);
  }
  if (text.size() > max_bytes) {
    return quote(path) + " is larger than " + std::to_string(max_bytes) + " bytes";
  }
  *out = std::move(text);
  return "";
}

std::string resolve_secret(std::string_view spelling, std::string_view base_dir, Secret* out) {
  std::string message;
  if (spelling.substr(0, 4) == "env:") {
    std::string name(spelling.substr(4));
    const char* value = std::getenv(name.c_str());
    out->source = std::string(spelling);
    out->value = value ? value : "";
    message = value ? "" : "environment variable " + name + " is not set";
  } else if (spelling.substr(0, 5) == "file:") {
    std::string path = resolve_path(base_dir, spelling.substr(5));
    out->source = "file:" + path;
    message = read_file(path, &out->value, kMaxSecretBytes);
    if (!out->value.empty() && out->value.back() == '\n') {
      out->value.pop_back();
      if (!out->value.empty() && out->value.back() == '\r') {
        out->value.pop_back();
      }
    }
  } else {
    out->source = "literal";
    out->value = std::string(spelling);
  }
  if (message.empty() && out->value.empty()) {
    message = "must not be empty";
  }
  return message;
}

}  // namespace ringway::config::internal

namespace ringway::config {

bool resolve_address(const std::string& host, uint16_t port, sockaddr_storage* addr, socklen_t* len,
                     std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    *error = "cannot resolve \"" + host + "\": " + (rc != 0 ? gai_strerror(rc) : "no address");
    return false;
  }
  std::memcpy(addr, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

std::string authority(const std::string& host, uint16_t port, uint16_t default_port) {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port == default_port ? h : h + ":" + std::to_string(port);
}

}  // namespace ringway::config
