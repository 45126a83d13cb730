// libFuzzer target: App authentication's parsers and canonicaliser (ringway/auth.h,
// auth/canonical.h).
//
// Input: newline-separated fields: method, raw path, raw query, Authorization value,
// X-Sdk-Date value, then header lines "name:value" separated by '\r' (the request's other
// headers). Checks: the canonical URI and query use only the encoded alphabet with upper-case
// %XX escapes and fit the bound the verifier relies on; a parsed Authorization's fields are
// views into it; a parsed date prints back to the same text; verify() and PendingVerify (begin,
// then finish) agree; and for a path and query of unreserved characters, what sign() signs
// verifies.
#include <cctype>
#include <ctime>
#include <string>
#include <vector>

#include "auth/canonical.h"
#include "fuzz_common.h"
#include "ringway/auth.h"

namespace ringway::fuzz {
namespace {

struct Headers {
  std::vector<std::pair<std::string_view, std::string_view>> list;
};

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view lookup(const void* ctx, std::string_view lower_name) {
  for (const auto& [name, value] : static_cast<const Headers*>(ctx)->list) {
    if (ieq(name, lower_name)) {
      return value;
    }
  }
  return {};
}

bool hex_upper(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }
bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

// Every byte is unreserved, one of `extra`, or starts a %XX escape with upper-case digits.
void check_encoded(std::string_view s, std::string_view extra) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      FUZZ_CHECK(i + 2 < s.size());
      FUZZ_CHECK(hex_upper(s[i + 1]) && hex_upper(s[i + 2]));
      i += 2;
    } else {
      FUZZ_CHECK(unreserved(s[i]) || extra.find(s[i]) != std::string_view::npos);
    }
  }
}

void canonical_forms(std::string_view path, std::string_view query) {
  // Each input byte becomes at most 3 output bytes (+ the trailing '/').
  std::vector<char> buf(3 * path.size() + 2);
  auth::internal::Writer w(buf.data(), buf.size());
  auth::internal::CanonicalUri(path, &w);
  FUZZ_CHECK(w.ok());
  FUZZ_CHECK(!w.view().empty() && w.view().back() == '/');
  check_encoded(w.view(), "/");
  std::vector<char> qbuf(3 * query.size() + 1);
  auth::internal::Writer q(qbuf.data(), qbuf.size());
  if (auth::internal::CanonicalQuery(query, &q)) {
    FUZZ_CHECK(q.ok());
    check_encoded(q.view(), "=&");
  }
  // A buffer too small must say so, never write past it.
  char tiny[8];
  auth::internal::Writer t(tiny, sizeof(tiny));
  auth::internal::CanonicalUri(path, &t);
  FUZZ_CHECK(t.ok() == (w.view().size() <= sizeof(tiny)));
}

void date(std::string_view s) {
  int64_t t = 0;
  if (!auth::parse_sdk_date(s, &t)) {
    return;
  }
  const time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  FUZZ_CHECK(gmtime_r(&tt, &tm) != nullptr);
  char back[32];
  const int n = std::snprintf(back, sizeof(back), "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900,
                              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  FUZZ_CHECK(n == 16 && std::string_view(back, 16) == s);
}

void sign_then_verify(std::string_view method, std::string_view path, std::string_view query) {
  auto plain = [](std::string_view s, std::string_view extra) {
    for (const char c : s) {
      if (!unreserved(c) && extra.find(c) == std::string_view::npos) {
        return false;
      }
    }
    return true;
  };
  if (path.empty() || path[0] != '/' || !plain(path, "/") || !plain(query, "=&") ||
      method.empty() || !plain(method, "")) {
    return;
  }
  auth::SignInput in;
  in.method = std::string(method);
  in.url = "http://api.example.com" + std::string(path) +
           (query.empty() ? "" : "?" + std::string(query));
  in.app_key = "key";
  in.app_secret = "secret";
  in.now_unix_s = 1700000000;
  Headers h;
  const auto added = auth::sign(in);
  h.list.emplace_back("host", "api.example.com");
  std::string_view authorization;
  for (const auto& [name, value] : added) {
    h.list.emplace_back(name, value);
    if (ieq(name, "authorization")) {
      authorization = value;
    }
  }
  auth::Authorization a;
  FUZZ_CHECK(auth::parse_authorization(authorization, &a));
  const auth::RequestView r{method, path, query, &h, &lookup};
  // More than kMaxQueryParams parameters: refused by design (RW.4012, docs/app-auth.md), though
  // sign() still signs (with an empty query; `ringway sign` refuses such a URL).
  size_t params = 0;
  for (size_t i = 0; i < query.size(); ++i) {
    params += query[i] != '&' && (i == 0 || query[i - 1] == '&');
  }
  const auth::AuthError want =
      params > auth::kMaxQueryParams ? auth::AuthError::kMalformed : auth::AuthError::kNone;
  char scratch[8192];
  FUZZ_CHECK(auth::verify(r, a, "secret", auth::kEmptyBodySha256, in.now_unix_s, scratch,
                          sizeof(scratch)) == want);
}

}  // namespace
}  // namespace ringway::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringway;
  const std::vector<std::string_view> f =
      fuzz::fields(std::string_view(reinterpret_cast<const char*>(data), size), '\n', 6);
  if (f.size() < 6) {
    return 0;
  }
  // Own copies: ASan sees reads past each field.
  const std::vector<std::string> own(f.begin(), f.end());
  const std::string_view method = own[0], path = own[1], query = own[2], authorization = own[3],
                         sdk_date = own[4];
  fuzz::canonical_forms(path, query);
  fuzz::date(sdk_date);
  fuzz::Headers h;
  h.list.emplace_back("x-sdk-date", sdk_date);
  for (std::string_view line : fuzz::fields(own[5], '\r', 32)) {
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      h.list.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
  }
  auth::Authorization a;
  if (auth::parse_authorization(authorization, &a)) {
    FUZZ_CHECK(fuzz::inside(a.access, authorization.data(), authorization.size()));
    FUZZ_CHECK(fuzz::inside(a.signed_headers, authorization.data(), authorization.size()));
    FUZZ_CHECK(fuzz::inside(a.signature, authorization.data(), authorization.size()));
    FUZZ_CHECK(!a.access.empty() && !a.signed_headers.empty() && !a.signature.empty());
    const auth::RequestView r{method, path, query, &h, &fuzz::lookup};
    // A small scratch in half the runs: the canonical request must be refused, not overrun.
    std::vector<char> scratch((size & 1) != 0 ? 96 : 8192);
    int64_t now = 0;
    if (!auth::parse_sdk_date(sdk_date, &now)) {
      now = 1700000000;
    }
    const auth::AuthError v =
        auth::verify(r, a, "secret", auth::kEmptyBodySha256, now, scratch.data(), scratch.size());
    auth::PendingVerify pv;
    auth::AuthError p = pv.begin(r, a, now, scratch.data(), scratch.size());
    if (p == auth::AuthError::kNone) {
      p = pv.finish("secret", auth::kEmptyBodySha256);
    }
    FUZZ_CHECK(v == p);
    FUZZ_CHECK(!auth::error_code(v).empty() == (v != auth::AuthError::kNone));
  }
  fuzz::sign_then_verify(method, path, query);
  return 0;
}
