// Helpers shared by the libFuzzer targets in tests/fuzz (built with -Dfuzz=true).
//
// A target checks invariants with FUZZ_CHECK: a broken one aborts, which libFuzzer records as a
// crash with the input that caused it (assert() would vanish from an NDEBUG build).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace ringway::fuzz {

// Where the bytes of one input arrive, as a receive loop would see them: the first input byte
// (the "split byte") picks the pattern, so libFuzzer mutates splits as it mutates content.
// 0: everything at once; otherwise the sizes of successive arrivals come from a small
// generator seeded with it, each 1..(split byte % 64 + 1) bytes.
class Splitter {
 public:
  explicit Splitter(uint8_t split_byte)
      : all_at_once_(split_byte == 0), max_(split_byte % 64u + 1u), state_(split_byte) {}
  // The size of the next arrival when `left` bytes have not arrived yet (left > 0).
  size_t next(size_t left) {
    if (all_at_once_) {
      return left;
    }
    state_ = state_ * 1103515245u + 12345u;
    const size_t n = 1 + (state_ >> 16) % max_;
    return n < left ? n : left;
  }

 private:
  bool all_at_once_;
  uint32_t max_;
  uint32_t state_;
};

// True when `v` is empty or lies entirely inside [base, base + size).
inline bool inside(std::string_view v, const char* base, size_t size) {
  if (v.empty()) {
    return true;
  }
  const auto b = reinterpret_cast<uintptr_t>(base);
  const auto p = reinterpret_cast<uintptr_t>(v.data());
  return p >= b && p + v.size() <= b + size;
}

// Splits `s` at every `sep`: a structured input made of fields.
inline std::vector<std::string_view> fields(std::string_view s, char sep, size_t max_fields) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < max_fields) {
    const size_t at = s.find(sep);
    if (at == std::string_view::npos) {
      break;
    }
    out.push_back(s.substr(0, at));
    s.remove_prefix(at + 1);
  }
  out.push_back(s);
  return out;
}

// `s` as a JSON string literal, quotes included (every byte kept: invalid UTF-8 passes, as a
// hostile configuration would carry it).
inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace ringway::fuzz
