#include "config/json_walk.h"

#include <algorithm>

#include "config/values.h"

namespace ringway::config::internal {

namespace dom = simdjson::dom;

namespace {

std::string_view type_name(dom::element el) {
  switch (el.type()) {
    case dom::element_type::ARRAY:
      return "array";
    case dom::element_type::OBJECT:
      return "object";
    case dom::element_type::STRING:
      return "string";
    case dom::element_type::BOOL:
      return "boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
    default:
      return "number";
  }
}

std::string type_message(std::string_view wanted, dom::element got) {
  return "must be " + std::string(wanted) + " (got " + std::string(type_name(got)) + ")";
}

// The value as a T (std::string_view, bool, dom::array, dom::object), or a report that
// it must be `wanted` ("a string").
template <class T>
std::optional<T> typed(const Value& v, std::string_view wanted) {
  T out;
  if (v.el.get<T>().get(out) != simdjson::SUCCESS) {
    v.error(type_message(wanted, v.el));
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::optional<std::string> Value::string() const {
  std::optional<std::string_view> s = typed<std::string_view>(*this, "a string");
  return s ? std::optional<std::string>(*s) : std::nullopt;
}

std::optional<bool> Value::boolean() const { return typed<bool>(*this, "a boolean"); }

std::optional<dom::array> Value::array() const { return typed<dom::array>(*this, "an array"); }

std::optional<dom::object> Value::object() const { return typed<dom::object>(*this, "an object"); }

bool Context::has_error_at(std::string_view path) const {
  return std::any_of(errors.begin(), errors.end(), [path](const Error& e) {
    std::string_view p = e.path;
    return p.substr(0, path.size()) == path &&
           (p.size() == path.size() || p[path.size()] == '.' || p[path.size()] == '[');
  });
}

std::string member_path(std::string_view parent, std::string_view key) {
  std::string path(parent);
  if (!path.empty()) {
    path += '.';
  }
  path += key;
  return path;
}

std::string index_path(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string one_of_message(const std::vector<std::string_view>& names, std::string_view got) {
  std::string m = "must be one of ";
  for (size_t i = 0; i < names.size(); ++i) {
    m += (i == 0 ? "" : ", ") + std::string(names[i]);
  }
  return m + " (got " + quote(got) + ")";
}

std::optional<int64_t> Value::integer(int64_t lo, int64_t hi) const {
  int64_t n = 0;
  dom::element_type t = el.type();
  if (t == dom::element_type::DOUBLE) {
    error("must be an integer (got " + simdjson::minify(el) + ")");
    return std::nullopt;
  }
  bool fits = t == dom::element_type::INT64 && el.get_int64().get(n) == simdjson::SUCCESS;
  if (t != dom::element_type::INT64 && t != dom::element_type::UINT64) {
    error(type_message("an integer", el));
    return std::nullopt;
  }
  if (!fits || n < lo || n > hi) {
    error("must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " (got " +
          simdjson::minify(el) + ")");
    return std::nullopt;
  }
  return n;
}

bool for_each_member(const Value& v,
                     const std::function<void(std::string_view, const Value&)>& member) {
  std::optional<dom::object> obj = v.object();
  if (!obj) {
    return false;
  }
  std::vector<std::string_view> seen;
  for (dom::key_value_pair kv : *obj) {
    Value child{v.ctx, member_path(v.path, kv.key), kv.value};
    if (std::find(seen.begin(), seen.end(), kv.key) != seen.end()) {
      child.error("duplicate field");
      continue;
    }
    seen.push_back(kv.key);
    member(kv.key, child);
  }
  return true;
}

Obj::Obj(const Value& v, std::initializer_list<std::string_view> fields, Nulls nulls)
    : ctx_(v.ctx), path_(v.path), null_absent_(nulls == Nulls::kAbsent) {
  bool is_object = for_each_member(v, [fields](std::string_view key, const Value& child) {
    if (std::find(fields.begin(), fields.end(), key) == fields.end()) {
      child.error("unknown field");
    }
  });
  if (is_object) {
    obj_ = v.el.get_object().value_unsafe();
  }
}

std::optional<Value> Obj::field(std::string_view key, Need need) const {
  if (!obj_) {
    return std::nullopt;
  }
  dom::element el;
  if (obj_->at_key(key).get(el) != simdjson::SUCCESS || (null_absent_ && el.is_null())) {
    if (need == Need::kRequired) {
      ctx_->error(path(key), "is required");
    }
    return std::nullopt;
  }
  return Value{ctx_, path(key), el};
}

bool Obj::read(std::string_view key, std::string& out, Need need) const {
  std::optional<Value> v = field(key, need);
  std::optional<std::string> s = v ? v->string() : std::nullopt;
  if (s) {
    out = std::move(*s);
  }
  return s.has_value();
}

bool Obj::read_checked(std::string_view key, std::string& out, const StringCheck& check,
                       Need need) const {
  std::optional<Value> v = field(key, need);
  std::optional<std::string> s = v ? v->string() : std::nullopt;
  if (!s) {
    return false;
  }
  if (std::string message = check(*s); !message.empty()) {
    v->error(std::move(message));
    return false;
  }
  out = std::move(*s);
  return true;
}

void Obj::forbid(std::initializer_list<std::string_view> keys, std::string_view message) const {
  for (std::string_view key : keys) {
    if (std::optional<Value> v = field(key)) {
      v->error(std::string(message));
    }
  }
}

bool Obj::read(std::string_view key, bool& out) const {
  std::optional<Value> v = field(key);
  std::optional<bool> b = v ? v->boolean() : std::nullopt;
  if (b) {
    out = *b;
  }
  return b.has_value();
}

std::optional<std::string> read_name(const Value& v) {
  std::optional<std::string> s = v.string();
  if (s && !is_name(*s)) {
    v.error(std::string(kNameRule) + " (got " + quote(*s) + ")");
  }
  return s;
}

void Names::read(const Obj& o, std::string& out, std::string_view key) {
  std::optional<Value> v = o.field(key, Need::kRequired);
  std::optional<std::string> s = v ? read_name(*v) : std::nullopt;
  if (!s) {
    complete_ = false;
    return;
  }
  out = *s;
  add(*v, out);
}

void Names::add(const Value& v, const std::string& name) {
  auto [it, inserted] = first_.emplace(name, v.path);
  if (!inserted) {
    v.error("duplicate " + what_ + " " + quote(name) + " (first at " + it->second + ")");
  }
}

bool Names::resolve(const Value& v, std::string_view name) const {
  if (contains(name)) {
    return true;
  }
  if (complete_) {
    v.error("unknown " + what_ + " " + quote(name));
  }
  return false;
}

bool Names::read_ref(const Obj& o, std::string_view key, std::string& out, Need need) const {
  std::optional<Value> v = o.field(key, need);
  std::optional<std::string> s = v ? v->string() : std::nullopt;
  if (!s) {
    return false;
  }
  out = *s;
  return resolve(*v, out);
}

}  // namespace ringway::config::internal
