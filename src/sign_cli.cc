// `ringway sign`: the headers that make a request pass App authentication (auth_type
// "app"), for curl users:
//   curl -X POST -d "$BODY" $(ringway sign ... | sed 's/^/-H\n/') URL   (see README)
// Signs like the seed product's SDKs (auth::sign); the secret may be `env:NAME`.
#include "sign_cli.h"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

#include "ringway/auth.h"

namespace ringway {
namespace {

constexpr const char* kSignUsage =
    "usage: ringway sign --app-key KEY --app-secret SECRET|env:NAME [-X METHOD]\n"
    "                    [-H 'Name: value']... [-d BODY] [--unsigned-payload] URL\n"
    "prints the headers to add (Name: value, one per line)\n";

bool add_header(std::string_view line, auth::SignInput* in) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') {
    value.remove_prefix(1);
  }
  in->headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  return true;
}

// Fills `in` from argv[2..]; false on a usage error.
bool parse(int argc, char** argv, auth::SignInput* in) {
  std::string method;
  for (int i = 2; i < argc; ++i) {
    std::string_view k = argv[i];
    if (k == "--unsigned-payload") {
      in->unsigned_payload = true;
      continue;
    }
    if (k.empty() || k[0] != '-') {
      if (!in->url.empty()) {
        return false;
      }
      in->url = argv[i];
      continue;
    }
    const char* v = i + 1 < argc ? argv[++i] : nullptr;
    if (v == nullptr) {
      return false;
    }
    if (k == "--app-key") {
      in->app_key = v;
    } else if (k == "--app-secret") {
      in->app_secret = v;
    } else if (k == "-X" || k == "--request") {
      method = v;
    } else if (k == "-H" || k == "--header") {
      if (!add_header(v, in)) return false;
    } else if (k == "-d" || k == "--data") {
      in->body = v;
    } else {
      return false;
    }
  }
  in->method = !method.empty() ? method : in->body.empty() ? "GET" : "POST";  // as curl does
  return !in->url.empty() && !in->app_key.empty() && !in->app_secret.empty();
}

// Query parameters of `url`: the non-empty '&'-separated pieces between the first '?' and
// '#' (a later '?' is part of a value, as in auth::sign).
size_t query_params(std::string_view url) {
  url = url.substr(0, url.find('#'));
  const size_t q = url.find('?');
  if (q == std::string_view::npos) {
    return 0;
  }
  size_t n = 0;
  for (size_t i = q + 1; i < url.size(); ++i) {
    n += url[i] != '&' && (i == q + 1 || url[i - 1] == '&') ? 1 : 0;
  }
  return n;
}

}  // namespace

int run_sign(int argc, char** argv) {
  auth::SignInput in;
  if (!parse(argc, argv, &in)) {
    std::fputs(kSignUsage, stderr);
    return 2;
  }
  if (in.app_secret.rfind("env:", 0) == 0) {
    const char* s = std::getenv(in.app_secret.c_str() + 4);
    if (s == nullptr) {
      std::fprintf(stderr, "error: --app-secret: %s is not set\n", in.app_secret.c_str() + 4);
      return 2;
    }
    in.app_secret = s;
  }
  if (in.url.rfind("http://", 0) != 0 && in.url.rfind("https://", 0) != 0) {
    std::fputs("error: URL must start with http:// or https://\n", stderr);
    return 2;
  }
  if (const size_t n = query_params(in.url); n > auth::kMaxQueryParams) {
    // A signature the gateway could only refuse (RW.4012) helps no one.
    std::fprintf(stderr,
                 "error: the URL has %zu query parameters; App authentication accepts at most "
                 "%zu (RW.4012)\n",
                 n, auth::kMaxQueryParams);
    return 2;
  }
  in.now_unix_s = static_cast<int64_t>(std::time(nullptr));
  for (const auto& [name, value] : auth::sign(in)) {
    std::printf("%s: %s\n", name.c_str(), value.c_str());
  }
  return 0;
}

}  // namespace ringway
