// The running configuration for the admin API (`GET /v1/config`): the document re-emitted
// as compact JSON with every secret's value replaced by "***" (CONFIG.md "Secrets").
//
// simdjson On Demand walks the text once: numbers are copied as their raw tokens (no
// round trip through double), strings are unescaped and escaped again, so the output is
// valid JSON whatever the input's escapes. A DOM parse first proves the whole document
// valid (On Demand checks only what it visits).
#include <string>
#include <string_view>
#include <utility>

#include <simdjson.h>

#include "ringway/config.h"
#include "ringway/http.h"

namespace ringway::config {

namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kRedacted = "\"***\"";

// A field whose value is a secret (CONFIG.md "Secrets": cascade `auth_key`, apps'
// `app_secret`, TLS keys' passphrases; a password of a future client section too).
bool is_secret_field(std::string_view key) {
  return key == "auth_key" || key == "app_secret" ||
         key.find("passphrase") != std::string_view::npos ||
         key.find("password") != std::string_view::npos;
}

// Objects whose member names are the user's data (variable and header names).
bool is_user_map(std::string_view key) { return key == "variables" || key == "headers"; }

std::string_view trim_token(std::string_view t) {
  while (!t.empty() &&
         (t.back() == ' ' || t.back() == '\t' || t.back() == '\n' || t.back() == '\r')) {
    t.remove_suffix(1);
  }
  return t;
}

// Emits `v`; `data_keys`: v is an object whose member names are data (never secrets).
bool emit(od::value v, std::string& out, bool data_keys);

// `[` each element through `each(value)` (false: fail), comma-separated `]`.
template <class Each>
bool emit_array(od::value v, std::string& out, Each each) {
  od::array a;
  if (v.get_array().get(a) != simdjson::SUCCESS) {
    return false;
  }
  out += '[';
  bool first = true;
  for (auto element : a) {
    od::value e;
    if (std::move(element).get(e) != simdjson::SUCCESS) {
      return false;
    }
    out += first ? "" : ",";
    first = false;
    if (!each(e)) {
      return false;
    }
  }
  out += ']';
  return true;
}

// A secret's value: "***", or a list of "***" for each element of a list.
bool emit_secret(od::value v, std::string& out) {
  od::json_type type;
  if (v.type().get(type) != simdjson::SUCCESS) {
    return false;
  }
  if (type != od::json_type::array) {
    out += kRedacted;
    return true;
  }
  return emit_array(v, out, [&out](od::value) {
    out += kRedacted;
    return true;
  });
}

bool emit_object(od::object o, std::string& out, bool data_keys) {
  out += '{';
  bool first = true;
  for (auto member : o) {
    od::field f;
    std::string_view key;
    if (std::move(member).get(f) != simdjson::SUCCESS ||
        f.unescaped_key().get(key) != simdjson::SUCCESS) {
      return false;
    }
    out += first ? "" : ",";
    first = false;
    http::append_json_string(key, out);
    out += ':';
    const bool ok = !data_keys && is_secret_field(key)
                        ? emit_secret(f.value(), out)
                        : emit(f.value(), out, !data_keys && is_user_map(key));
    if (!ok) {
      return false;
    }
  }
  out += '}';
  return true;
}

bool emit(od::value v, std::string& out, bool data_keys) {
  od::json_type type;
  if (v.type().get(type) != simdjson::SUCCESS) {
    return false;
  }
  switch (type) {
    case od::json_type::object: {
      od::object o;
      return v.get_object().get(o) == simdjson::SUCCESS && emit_object(o, out, data_keys);
    }
    case od::json_type::array:
      return emit_array(v, out, [&out](od::value e) { return emit(e, out, false); });
    case od::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) {
        return false;
      }
      http::append_json_string(s, out);
      return true;
    }
    case od::json_type::number:
    case od::json_type::boolean:
    case od::json_type::null: {
      out += trim_token(v.raw_json_token());
      return true;
    }
  }
  return false;
}

}  // namespace

std::string redacted_json(std::string_view json) {
  const simdjson::padded_string padded(json);
  simdjson::dom::parser validator;
  simdjson::dom::element root;
  if (validator.parse(padded).get(root) != simdjson::SUCCESS) {
    return "";
  }
  od::parser parser;
  od::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) {
    return "";
  }
  std::string out;
  out.reserve(json.size());
  od::json_type type;
  if (doc.type().get(type) != simdjson::SUCCESS) {
    return "";
  }
  bool ok = false;
  if (type == od::json_type::object || type == od::json_type::array) {
    od::value v;
    ok = doc.get_value().get(v) == simdjson::SUCCESS && emit(v, out, false);
  } else {  // a scalar document: copied as its token (a string is re-escaped)
    std::string_view token;
    std::string_view s;
    if (type == od::json_type::string) {
      ok = doc.get_string().get(s) == simdjson::SUCCESS;
      http::append_json_string(s, out);
    } else {
      ok = doc.raw_json_token().get(token) == simdjson::SUCCESS;
      out += trim_token(token);
    }
  }
  return ok ? out : "";
}

}  // namespace ringway::config
