// Byte buffers used on the data plane. Header-only, allocation-free.
//
// `Writer` appends into caller-owned memory and remembers overflow instead of growing:
// every producer on the request path writes into a fixed buffer and checks `ok()` once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace ringway {

class Writer {
 public:
  Writer(char* data, size_t cap) : begin_(data), p_(data), end_(data + cap) {}

  void put(std::string_view s) {
    if (static_cast<size_t>(end_ - p_) < s.size()) {
      overflow_ = true;
      return;
    }
    if (!s.empty()) {
      std::memcpy(p_, s.data(), s.size());
    }
    p_ += s.size();
  }
  void put(char c) {
    if (p_ == end_) {
      overflow_ = true;
      return;
    }
    *p_++ = c;
  }
  void put_uint(uint64_t v) { put_digits<10>(v); }
  void put_hex(uint64_t v) { put_digits<16>(v); }  // lower-case digits

  // Marks the output as failed (a part that could not be written).
  void fail() { overflow_ = true; }
  bool ok() const { return !overflow_; }
  size_t size() const { return static_cast<size_t>(p_ - begin_); }
  size_t room() const { return static_cast<size_t>(end_ - p_); }
  char* data() const { return begin_; }
  std::string_view view() const { return {begin_, size()}; }

 private:
  // `v` in base kBase, most significant digit first, through one put(): like any put(),
  // on overflow it sets the flag and writes nothing.
  template <unsigned kBase>
  void put_digits(uint64_t v) {
    static_assert(kBase >= 10 && kBase <= 16, "tmp holds the 20 decimal digits of 2^64-1");
    static constexpr char kDigits[] = "0123456789abcdef";
    char tmp[20];
    char* d = tmp + sizeof(tmp);
    do {
      *--d = kDigits[v % kBase];
      v /= kBase;
    } while (v != 0);
    put(std::string_view(d, static_cast<size_t>(tmp + sizeof(tmp) - d)));
  }

  char* begin_;
  char* p_;
  char* end_;
  bool overflow_ = false;
};

}  // namespace ringway
