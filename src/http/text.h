// Small ASCII helpers shared by the parsers and the writers. Header-only, allocation-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ringway/http.h"

namespace ringway::http::internal {

inline char ToLowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

// ASCII case-insensitive equality (header names, tokens).
inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) {
      return false;
    }
  }
  return true;
}

inline bool IsOws(char c) { return c == ' ' || c == '\t'; }

// `s` without leading and trailing SP / HTAB.
inline std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && IsOws(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// Calls `fn(token)` for each comma-separated, OWS-trimmed, non-empty token of `list`
// until `fn` returns true; returns whether it did.
template <typename Fn>
bool AnyToken(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view token = TrimOws(list.substr(0, comma));
    if (!token.empty() && fn(token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
  return false;
}

// First value of header `name` (case-insensitive) in `headers`, empty if absent.
inline std::string_view FindHeader(const Header* headers, uint32_t count, std::string_view name) {
  for (uint32_t i = 0; i < count; ++i) {
    if (IEquals(headers[i].name, name)) {
      return headers[i].value;
    }
  }
  return {};
}

}  // namespace ringway::http::internal
