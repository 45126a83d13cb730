// The signer side of SDK-HMAC-SHA256 (ringway/auth.h): sign(), off the request path.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <string>

#include "auth/canonical.h"
#include "ringway/auth.h"

namespace ringway::auth {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

const std::string* Find(const Headers& headers, std::string_view lower_name) {
  for (const auto& [name, value] : headers) {
    if (Lower(name) == lower_name) {
      return &value;
    }
  }
  return nullptr;
}

struct UrlParts {
  std::string host, path, query;
};

// Splits http(s)://authority/path?query#fragment; the path escaped as Node's url.parse does
// (space, ", ', <, >, ^, `, {, |, } and controls as %XX; '\' becomes '/').
UrlParts SplitUrl(std::string_view url) {
  UrlParts parts;
  const size_t scheme = url.find("://");
  url.remove_prefix(scheme == std::string_view::npos ? 0 : scheme + 3);
  const size_t authority_end = std::min(url.find_first_of("/?#"), url.size());
  parts.host = Lower(url.substr(0, authority_end));
  url.remove_prefix(authority_end);
  url = url.substr(0, url.find('#'));
  const size_t q = url.find('?');
  if (q != std::string_view::npos) {
    parts.query = std::string(url.substr(q + 1));
    url = url.substr(0, q);
  }
  constexpr std::string_view kEscape = " \"'<>^`{|}";
  for (const char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\') {
      parts.path += '/';
    } else if (u < 0x20 || kEscape.find(c) != std::string_view::npos) {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", u);
      parts.path += buf;
    } else {
      parts.path += c;
    }
  }
  if (parts.path.empty()) {
    parts.path = "/";
  }
  return parts;
}

std::string FormatDate(int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[20];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Appends through internal::Writer into a string, growing it until everything fits.
template <typename Fill>
std::string Build(size_t guess, Fill&& fill) {
  std::string out(guess, '\0');
  while (true) {
    internal::Writer w(out.data(), out.size());
    fill(&w);
    if (w.ok()) {
      out.resize(w.view().size());
      return out;
    }
    out.resize(out.size() * 2);
  }
}

}  // namespace

Headers sign(const SignInput& in) {
  const UrlParts url = SplitUrl(in.url);
  Headers all = in.headers;
  Headers added;
  const std::string* given_date = Find(all, "x-sdk-date");
  const std::string date = given_date != nullptr ? *given_date : FormatDate(in.now_unix_s);
  if (given_date == nullptr) {
    all.emplace_back("X-Sdk-Date", date);
  }
  added.emplace_back("X-Sdk-Date", date);
  if (Find(all, "host") == nullptr) {
    all.emplace_back("host", url.host);
  }
  if (in.unsigned_payload && Find(all, "x-sdk-content-sha256") == nullptr) {
    all.emplace_back("X-Sdk-Content-Sha256", std::string(kUnsignedPayload));
    added.emplace_back("X-Sdk-Content-Sha256", std::string(kUnsignedPayload));
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return Lower(a.first) < Lower(b.first); });
  std::string signed_names;
  std::string canonical_headers;
  for (const auto& [name, value] : all) {
    signed_names += (signed_names.empty() ? "" : ";") + Lower(name);
    canonical_headers += Lower(name) + ":" + value + "\n";
  }
  std::string payload_hash(kEmptyBodySha256);
  if (const std::string* h = Find(all, "x-sdk-content-sha256"); h != nullptr) {
    payload_hash = *h;
  } else if (!in.body.empty()) {
    payload_hash.assign(64, '0');
    internal::Sha256Hex(in.body, payload_hash.data());
  }
  const std::string canonical =
      Build(in.url.size() * 3 + canonical_headers.size() + 256, [&](internal::Writer* w) {
        w->put(in.method);
        w->put('\n');
        internal::CanonicalUri(url.path, w);
        w->put('\n');
        // Writes nothing for more than kMaxQueryParams parameters: verify() refuses those.
        internal::CanonicalQuery(url.query, w);
        w->put('\n');
        w->put(canonical_headers);
        w->put('\n');
        w->put(signed_names);
        w->put('\n');
        w->put(payload_hash);
      });
  char hex[64];
  internal::Sha256Hex(canonical, hex);
  const std::string to_sign = "SDK-HMAC-SHA256\n" + date + "\n" + std::string(hex, sizeof(hex));
  char signature[64];
  internal::HmacSha256Hex(in.app_secret, to_sign, signature);
  added.emplace_back("Authorization",
                     "SDK-HMAC-SHA256 Access=" + in.app_key + ", SignedHeaders=" + signed_names +
                         ", Signature=" + std::string(signature, sizeof(signature)));
  return added;
}

}  // namespace ringway::auth
