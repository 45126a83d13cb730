// Backend compilation: direct-url resolution, authority and Host, pre-rendered mock
// responses. Control thread only (build); getaddrinfo blocks.
//
// Channel backends are compiled without an address (addr_len 0): the channel module
// (a later issue) owns member addresses, and the config loader rejects channels for now.
#include <netdb.h>

#include <cstring>
#include <string>

#include "ringway/http_status.h"
#include "route/table_impl.h"

namespace ringway::route {
namespace {

constexpr std::array<std::string_view, 8> kMethodText = {"GET",   "POST", "PUT",     "DELETE",
                                                         "PATCH", "HEAD", "OPTIONS", "ANY"};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const char c = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (c != b[i]) {
      return false;
    }
  }
  return true;
}

// Headers the gateway frames itself; configured values would contradict it.
bool framing_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection");
}

bool unsafe_in_head(std::string_view s) { return s.find_first_of("\r\n", 0, 3) != s.npos; }

void compile_mock(const config::MockBackend& mock, size_t index, CompiledBackend* out,
                  std::vector<config::Error>* errors) {
  std::string head = status_line(mock.status);
  for (const auto& [name, value] : mock.headers) {
    if (unsafe_in_head(name) || unsafe_in_head(value)) {
      errors->push_back(
          {api_path(index, "backend.mock.headers." + name), "must not contain CR, LF or NUL"});
      continue;
    }
    if (!framing_header(name)) {
      head += name + ": " + value + "\r\n";
    }
  }
  out->mock_head = head + "content-length: " + std::to_string(mock.body.size()) + "\r\n";
  out->mock_body = mock.body;
  out->mock_status = mock.status;
}

void compile_url(const config::HttpBackend& http, size_t index, Resolver& resolver,
                 CompiledBackend* out, std::vector<config::Error>* errors) {
  const config::Address& url = http.url;
  std::string why;
  if (!resolver.resolve(url.host, url.port, &out->addr, &out->addr_len, &why)) {
    errors->push_back(
        {api_path(index, "backend.url"), "cannot resolve \"" + url.host + "\": " + why});
    return;
  }
  // A parsed IPv6 literal (url.v6) always contains ':', so authority() brackets it.
  out->authority = config::authority(url.host, url.port, http.req_protocol == "https" ? 443 : 80);
}

}  // namespace

std::string status_line(uint16_t status) {
  std::string line = "HTTP/1.1 " + std::to_string(status) + " ";
  line += http::status_reason(status);
  return line + "\r\n";
}

bool Resolver::resolve(const std::string& host, uint16_t port, sockaddr_storage* addr,
                       socklen_t* len, std::string* why) {
  auto [it, fresh] = cache_.try_emplace(host);
  Entry& e = it->second;
  if (fresh) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    e.error = rc != 0 ? gai_strerror(rc) : "no IPv4 or IPv6 address";
    for (const addrinfo* p = rc == 0 ? res : nullptr; p != nullptr; p = p->ai_next) {
      if ((p->ai_family == AF_INET || p->ai_family == AF_INET6) &&
          p->ai_addrlen <= sizeof(e.addr)) {
        std::memcpy(&e.addr, p->ai_addr, p->ai_addrlen);
        e.len = p->ai_addrlen;
        e.error.clear();
        break;
      }
    }
    if (res != nullptr) {
      freeaddrinfo(res);
    }
  }
  if (e.len == 0) {
    *why = e.error;
    return false;
  }
  *addr = e.addr;
  *len = e.len;
  if (addr->ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(addr)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(addr)->sin6_port = htons(port);
  }
  return true;
}

std::string api_path(size_t index, std::string_view field) {
  return "apis[" + std::to_string(index) + "]." + std::string(field);
}

void compile_backend(const config::Api& api, size_t index, Resolver& resolver, CompiledBackend* out,
                     std::vector<config::Error>* errors) {
  const config::Backend& b = api.backend;
  out->type = b.type;
  if (b.type == config::BackendType::kMock) {
    compile_mock(b.mock, index, out, errors);
    return;
  }
  const config::HttpBackend& http = b.http;
  if (http.req_method.has_value()) {
    out->method = kMethodText[static_cast<size_t>(*http.req_method)];
  }
  out->timeout_ms = http.timeout_ms;
  out->retry_count = http.retry_count;
  out->cascade = http.cascade;
  if (http.channel.empty()) {
    compile_url(http, index, resolver, out, errors);
  }
  out->channel = http.channel;
  out->host_header = http.host_header.empty() ? out->authority : http.host_header;
}

}  // namespace ringway::route
