// JSON walking for the configuration loader: values that know their JSON path, objects
// that report unknown and repeated fields, and typed field readers that report a wrong
// type once and leave the target at its default.
//
// Every section reader is a list of `o.read(...)` calls over an `Obj` declared with its
// field names; errors collect in the `Context`, never stop the walk, and never cascade:
// a value of the wrong type is reported at its own path and nothing below it is read.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/values.h"
#include "ringway/config.h"

namespace ringway::config::internal {

// Errors of one load, and what every section needs to resolve files.
struct Context {
  std::string base_dir;
  std::vector<Error> errors;

  void error(std::string path, std::string message) {
    errors.push_back({std::move(path), std::move(message)});
  }
  // True when an error was reported at `path` or below it (`path.x`, `path[i]`): used to
  // skip cross checks on values that are already known to be wrong.
  bool has_error_at(std::string_view path) const;
};

std::string member_path(std::string_view parent, std::string_view key);  // "a.b"
std::string index_path(std::string_view parent, size_t index);           // "a[3]"

enum class Need { kOptional, kRequired };

// One JSON value and its path. The typed accessors report a mismatch at `path`
// ("must be a string (got number)") and return nullopt.
struct Value {
  Context* ctx;
  std::string path;
  simdjson::dom::element el;

  void error(std::string message) const { ctx->error(path, std::move(message)); }
  std::optional<std::string> string() const;
  std::optional<bool> boolean() const;
  // In [lo, hi]; out of range: "must be between lo and hi (got v)".
  std::optional<int64_t> integer(int64_t lo, int64_t hi) const;
  std::optional<simdjson::dom::array> array() const;
  std::optional<simdjson::dom::object> object() const;
};

// Reads an object used as a map (any keys): calls `member(key, value)` for each first
// occurrence of a key and reports repeated keys as "duplicate field". Returns false when
// `v` is not an object (reported).
bool for_each_member(const Value& v,
                     const std::function<void(std::string_view, const Value&)>& member);

// A check of a string value: the error message, "" when the value is fine.
using StringCheck = std::function<std::string(std::string_view)>;

// A closed set of spellings for an enum field.
template <class E>
using Choice = std::pair<std::string_view, E>;

// "must be one of a, b, c (got "x")".
std::string one_of_message(const std::vector<std::string_view>& names, std::string_view got);

// A JSON object read field by field. Construction checks that the value is an object
// (else reports it once and the Obj yields no fields) and reports every key outside
// `fields` as "unknown field" and every repeated key as "duplicate field".
class Obj {
 public:
  // Nulls::kAbsent: a field whose value is null reads as absent (the seed's script format
  // writes unused members as null).
  enum class Nulls : uint8_t { kValue, kAbsent };
  Obj(const Value& v, std::initializer_list<std::string_view> fields, Nulls nulls = Nulls::kValue);

  bool valid() const { return obj_.has_value(); }
  Context& ctx() const { return *ctx_; }
  const std::string& path() const { return path_; }
  std::string path(std::string_view key) const { return member_path(path_, key); }
  bool has(std::string_view key) const { return field(key).has_value(); }
  // An error about the object as a whole; none when it is not an object (reported).
  void error(std::string message) const {
    if (valid()) {
      ctx_->error(path_, std::move(message));
    }
  }

  // The field `key`, or nullopt when absent (reported "is required" if `need` says so)
  // or when this Obj is not an object.
  std::optional<Value> field(std::string_view key, Need need = Need::kOptional) const;

  // Readers store into `out` and return true only when the field is present and valid;
  // otherwise `out` keeps its default.
  bool read(std::string_view key, std::string& out, Need need = Need::kOptional) const;
  bool read(std::string_view key, bool& out) const;
  // A string that must also pass `check` (whose message is reported at the field).
  bool read_checked(std::string_view key, std::string& out, const StringCheck& check,
                    Need need = Need::kOptional) const;
  // Reports `message` at each of `keys` that is present: fields that the value of
  // another field makes meaningless ("only allowed for mock backends").
  void forbid(std::initializer_list<std::string_view> keys, std::string_view message) const;

  template <class T>
  bool read(std::string_view key, T& out, int64_t lo, int64_t hi,
            Need need = Need::kOptional) const {
    std::optional<Value> v = field(key, need);
    std::optional<int64_t> n = v ? v->integer(lo, hi) : std::nullopt;
    if (n) {
      out = static_cast<T>(*n);
    }
    return n.has_value();
  }

  // One of `choices` by spelling: "must be one of a, b (got "c")".
  template <class T, class E, size_t N>
  bool read(std::string_view key, T& out, const Choice<E> (&choices)[N],
            Need need = Need::kOptional) const {
    std::optional<Value> v = field(key, need);
    std::optional<std::string> s = v ? v->string() : std::nullopt;
    if (!s) {
      return false;
    }
    std::vector<std::string_view> names;
    for (const Choice<E>& c : choices) {
      if (c.first == *s) {
        out = c.second;
        return true;
      }
      names.push_back(c.first);
    }
    v->error(one_of_message(names, *s));
    return false;
  }

 private:
  Context* ctx_;
  std::string path_;
  std::optional<simdjson::dom::object> obj_;
  bool null_absent_ = false;
};

// Reads the array field `key` into `out`, calling `item(value, out.back())` for every
// element. Every element gets an entry (a default one if `item` rejects it) so indices
// in `out` stay the JSON indices that error paths name. Returns false when the field is
// present but not an array.
template <class T, class F>
bool read_list(const Obj& o, std::string_view key, std::vector<T>& out, F&& item,
               Need need = Need::kOptional) {
  std::optional<Value> v = o.field(key, need);
  if (!v) {
    return !o.valid() || need == Need::kOptional;
  }
  std::optional<simdjson::dom::array> arr = v->array();
  if (!arr) {
    return false;
  }
  size_t i = 0;
  for (simdjson::dom::element el : *arr) {
    out.emplace_back();
    item(Value{&o.ctx(), index_path(v->path, i++), el}, out.back());
  }
  return true;
}

// A string under the name rules (1-64 chars of [A-Za-z0-9_-]). A string that breaks the
// rules is reported and still returned, so lookups of it do not cascade.
std::optional<std::string> read_name(const Value& v);

// The names of one list (or one reference list): rules, uniqueness and lookups. A list
// with a name that could not be read is "incomplete": a reference that is not found is
// then not reported, since it may name the unreadable entry.
class Names {
 public:
  explicit Names(std::string_view what) : what_(what) {}

  // Reads the required `name` field of `o` into `out` and registers it.
  void read(const Obj& o, std::string& out, std::string_view key = "name");
  // Registers `name` read from `v`; a repeated name is "duplicate <what> "x" (first at p)".
  void add(const Value& v, const std::string& name);
  void add_implicit(std::string name) { first_.emplace(std::move(name), "(implicit)"); }
  void set_incomplete() { complete_ = false; }
  bool contains(std::string_view name) const { return first_.find(name) != first_.end(); }
  // Checks that `name` (read from `v`) exists: "unknown <what> "x"".
  bool resolve(const Value& v, std::string_view name) const;
  // Reads the string field `key` of `o` into `out` and resolves it.
  bool read_ref(const Obj& o, std::string_view key, std::string& out,
                Need need = Need::kRequired) const;

 private:
  std::string what_;
  std::map<std::string, std::string, std::less<>> first_;  // name -> path of first use
  bool complete_ = true;
};

// Reads a list of named objects: each element is an Obj over `fields` whose required
// `name` goes to `item.name` and into `names`; `body(o, item)` reads the other fields.
// A list that cannot be read leaves `names` incomplete.
template <class T, class F>
void read_named_list(const Obj& parent, std::string_view key, std::vector<T>& out, Names& names,
                     std::initializer_list<std::string_view> fields, F&& body) {
  bool ok = read_list(parent, key, out, [&](const Value& v, T& item) {
    Obj o(v, fields);
    names.read(o, item.name);
    body(o, item);
  });
  if (!ok) {
    names.set_incomplete();
  }
}

}  // namespace ringway::config::internal
