// Downgrade rules: parameters and match_regex compile (simdjson and std::regex, control
// thread) and matching (shards).
#include "breaker/rules.h"

#include "breaker/expression.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <utility>

namespace ringway::breaker {

using Kind = Match::Node::Kind;

namespace {

// A decimal number ("12", "-0.5"), the whole of `s`; nullopt otherwise (also for inf, nan,
// exponents and hexadecimal).
std::optional<double> parse_decimal(std::string_view s) noexcept {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::fixed);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

bool search(const std::regex& re, std::string_view v) noexcept {
  return std::regex_search(v.data(), v.data() + v.size(), re);
}

std::optional<Kind> parse_op(std::string_view op) {
  static constexpr std::pair<std::string_view, Kind> kOps[] = {
      {"==", Kind::kEqual},    {"=", Kind::kEqual},   {"~=", Kind::kNotEqual},
      {"!=", Kind::kNotEqual}, {"~~", Kind::kSearch}, {"pattern", Kind::kSearch},
      {"in", Kind::kIn},       {"enum", Kind::kIn},   {">", Kind::kGreater},
      {"<", Kind::kLess}};
  for (const auto& [name, kind] : kOps) {
    if (op == name) {
      return kind;
    }
  }
  return std::nullopt;
}

// A JSON string, or a JSON number as its shortest decimal text.
std::optional<std::string> text_of(simdjson::dom::element el) {
  std::string_view s;
  if (el.get_string().get(s) == simdjson::SUCCESS) {
    return std::string(s);
  }
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  if (el.get_int64().get(i) == simdjson::SUCCESS) {
    return std::to_string(i);
  }
  if (el.get_uint64().get(u) == simdjson::SUCCESS) {
    return std::to_string(u);
  }
  if (el.get_double().get(d) == simdjson::SUCCESS) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
    return ec == std::errc() ? std::optional<std::string>(std::string(buf, end)) : std::nullopt;
  }
  return std::nullopt;
}

// A JSON number, or a string holding a decimal number.
std::optional<double> number_of(simdjson::dom::element el) {
  std::string_view s;
  if (el.get_string().get(s) == simdjson::SUCCESS) {
    return parse_decimal(s);
  }
  double d = 0;
  if (el.get_double().get(d) == simdjson::SUCCESS) {  // also integers
    return d;
  }
  return std::nullopt;
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == ' ') {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::optional<Param> make_param(std::string_view name, std::string_view type,
                                std::string_view value, std::string* error) {
  static constexpr std::pair<std::string_view, ParamSource> kTypes[] = {
      {"path", ParamSource::kPath},
      {"method", ParamSource::kMethod},
      {"header", ParamSource::kHeader},
      {"query", ParamSource::kQuery},
      {"system", ParamSource::kSystem}};
  static constexpr std::pair<std::string_view, SystemValue> kSystem[] = {
      {"source_ip", SystemValue::kSourceIp},
      {"stage", SystemValue::kStage},
      {"api_name", SystemValue::kApiName},
      {"request_id", SystemValue::kRequestId}};
  if (name.empty()) {
    *error = "a parameter needs a name";
    return std::nullopt;
  }
  Param p{std::string(name), ParamSource::kPath, {}, {}};
  const auto* t = std::find_if(std::begin(kTypes), std::end(kTypes),
                               [&](const auto& e) { return e.first == type; });
  if (t == std::end(kTypes)) {
    *error = "unknown type \"" + std::string(type) + "\" (path, method, header, query, system)";
    return std::nullopt;
  }
  p.source = t->second;
  if (p.source == ParamSource::kHeader || p.source == ParamSource::kQuery) {
    if (value.empty()) {
      *error = "a " + std::string(type) + " parameter needs its name in value";
      return std::nullopt;
    }
    p.key = std::string(value);
    if (p.source == ParamSource::kHeader) {
      for (char& ch : p.key) {
        ch = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch | 0x20) : ch;
      }
    }
  } else if (p.source == ParamSource::kSystem) {
    const auto* s = std::find_if(std::begin(kSystem), std::end(kSystem),
                                 [&](const auto& e) { return e.first == value; });
    if (s == std::end(kSystem)) {
      *error = "unknown system parameter \"" + std::string(value) +
               "\" (source_ip, stage, api_name, request_id)";
      return std::nullopt;
    }
    p.system = s->second;
  }
  return p;
}

struct MatchBuilder : expression::TreeBuilder<MatchBuilder, Match::Node> {
  static constexpr uint32_t kMaxDepth = Match::kMaxDepth;
  static constexpr std::string_view kTestHead = "a parameter";
  Match& m;
  const std::vector<Param>& params;

  MatchBuilder(Match& match, const std::vector<Param>& ps, std::string* e)
      : TreeBuilder{match.nodes_, match.children_, e}, m(match), params(ps) {}

  // The index of the parameter `name`, or a failure.
  std::optional<uint32_t> param_index(std::string_view name, const std::string& path) {
    for (size_t i = 0; i < params.size(); ++i) {
      if (params[i].name != name) {
        continue;
      }
      if (i >= Match::kMaxParams) {
        fail(path, "parameter \"" + std::string(name) + "\" is number " + std::to_string(i + 1) +
                       "; rules can refer to the first " + std::to_string(Match::kMaxParams));
        return std::nullopt;
      }
      return static_cast<uint32_t>(i);
    }
    std::string known;
    for (const Param& p : params) {
      known += (known.empty() ? "" : ", ") + p.name;
    }
    fail(path, "unknown parameter \"" + std::string(name) + "\" (" + known + ")");
    return std::nullopt;
  }

  bool build_test(simdjson::dom::array arr, std::string_view name, const std::string& path) {
    std::optional<uint32_t> param = param_index(name, path + "[0]");
    if (!param) {
      return false;
    }
    std::string_view op;
    if (arr.size() != 3 || arr.at(1).get_string().get(op) != simdjson::SUCCESS) {
      return fail(path, "must be [parameter, operator, value]");
    }
    std::optional<Kind> kind = parse_op(op);
    if (!kind) {
      return fail(path + "[1]", "unknown operator \"" + std::string(op) + "\"");
    }
    Match::Node n{*kind, static_cast<uint8_t>(*param)};
    if (!build_value(arr.at(2).value_unsafe(), path + "[2]", n)) {
      return false;
    }
    m.nodes_.push_back(n);
    m.used_ |= uint64_t{1} << *param;
    return true;
  }

  // Fills the value part of test node `n` from `el`.
  bool build_value(simdjson::dom::element el, const std::string& path, Match::Node& n) {
    if (n.kind == Kind::kGreater || n.kind == Kind::kLess) {
      std::optional<double> v = number_of(el);
      if (!v) {
        return fail(path, "must be a decimal number");
      }
      n.number = *v;
      return true;
    }
    std::optional<std::string> text = text_of(el);
    if (!text) {
      return fail(path, "must be a string or a number");
    }
    if (n.kind == Kind::kIn) {
      return build_list(*text, path, n);
    }
    if (n.kind == Kind::kSearch) {
      return build_regex(*text, path, n);
    }
    n.first = static_cast<uint32_t>(m.strings_.size());
    n.count = 1;
    m.strings_.push_back(std::move(*text));
    return true;
  }

  bool build_list(const std::string& whole, const std::string& path, Match::Node& n) {
    n.first = static_cast<uint32_t>(m.strings_.size());
    std::string_view list = whole;
    while (true) {
      const size_t comma = list.find(',');
      std::string_view item = trim_spaces(list.substr(0, comma));
      if (item.empty()) {
        return fail(path, "empty item in the list \"" + whole + "\"");
      }
      m.strings_.emplace_back(item);
      if (comma == std::string_view::npos) {
        break;
      }
      list.remove_prefix(comma + 1);
    }
    n.count = static_cast<uint32_t>(m.strings_.size()) - n.first;
    return true;
  }

  bool build_regex(const std::string& pattern, const std::string& path, Match::Node& n) {
    try {
      std::regex re(pattern, std::regex::ECMAScript | std::regex::nosubs | std::regex::optimize);
      n.first = static_cast<uint32_t>(m.regexes_.size());
      n.count = 1;
      m.regexes_.push_back(std::move(re));
    } catch (const std::regex_error& e) {
      return fail(path, "invalid regular expression \"" + pattern + "\": " + e.what());
    }
    return true;
  }
};

std::optional<Match> Match::compile(std::string_view json, const std::vector<Param>& params,
                                    std::string* error) {
  expression::Document doc;
  Match m;
  MatchBuilder b(m, params, error);
  if (!doc.parse(json, error) || !b.build(doc.root(), "", 0)) {
    return std::nullopt;
  }
  return m;
}

bool Match::eval(uint32_t node, const std::string_view* values) const noexcept {
  const Node& n = nodes_[node];
  if (n.kind == Kind::kAnd || n.kind == Kind::kOr) {
    const bool any = n.kind == Kind::kOr;
    for (uint32_t i = 0; i < n.count; ++i) {
      if (eval(children_[n.first + i], values) == any) {
        return any;
      }
    }
    return !any;
  }
  const std::string_view v = values[n.param];
  switch (n.kind) {
    case Kind::kAnd:
    case Kind::kOr:
      return false;  // handled above
    case Kind::kEqual:
      return v == strings_[n.first];
    case Kind::kNotEqual:
      return v != strings_[n.first];
    case Kind::kIn:
      for (uint32_t i = 0; i < n.count; ++i) {
        if (v == strings_[n.first + i]) {
          return true;
        }
      }
      return false;
    case Kind::kSearch:
      return search(regexes_[n.first], v);
    case Kind::kGreater:
    case Kind::kLess: {
      std::optional<double> x = parse_decimal(v);
      return x && (n.kind == Kind::kGreater ? *x > n.number : *x < n.number);
    }
  }
  return false;
}

}  // namespace ringway::breaker
