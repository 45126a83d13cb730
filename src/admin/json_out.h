// A small JSON text builder for the admin API's answers (control thread; allocates freely).
// Keys and values are escaped; the caller opens and closes objects and arrays in order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ringway/http.h"

namespace ringway::admin {

class JsonOut {
 public:
  JsonOut& begin_object() { return open('{'); }
  JsonOut& end_object() { return close('}'); }
  JsonOut& begin_array() { return open('['); }
  JsonOut& end_array() { return close(']'); }
  JsonOut& key(std::string_view k) {
    comma();
    string_value(k);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  JsonOut& value(std::string_view v) {
    comma();
    string_value(v);
    return *this;
  }
  JsonOut& value(const char* v) { return value(std::string_view(v)); }
  JsonOut& value(uint64_t v) {
    comma();
    out_ += std::to_string(v);
    return *this;
  }
  JsonOut& value(int64_t v) {
    comma();
    out_ += std::to_string(v);
    return *this;
  }
  JsonOut& value(uint32_t v) { return value(uint64_t{v}); }
  JsonOut& value(int v) { return value(int64_t{v}); }
  JsonOut& value(bool v) {
    comma();
    out_ += v ? "true" : "false";
    return *this;
  }
  JsonOut& null() {
    comma();
    out_ += "null";
    return *this;
  }
  // Already JSON text (a nested document).
  JsonOut& raw(std::string_view json) {
    comma();
    out_ += json;
    return *this;
  }
  template <class T>
  JsonOut& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  std::string take() { return std::move(out_); }

 private:
  JsonOut& open(char c) {
    comma();
    out_ += c;
    first_ = true;
    return *this;
  }
  JsonOut& close(char c) {
    out_ += c;
    first_ = false;
    return *this;
  }
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_ && !out_.empty()) {
      out_ += ',';
    }
    first_ = false;
  }
  void string_value(std::string_view s) { http::append_json_string(s, out_); }

  std::string out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace ringway::admin
