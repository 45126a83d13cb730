// unhealthy_condition: compile (simdjson, control thread) and evaluation (shards).
#include "breaker/condition.h"

#include <simdjson.h>

#include <charconv>
#include <utility>

namespace ringway::breaker {

using Cmp = Condition::Node::Cmp;
using Kind = Condition::Node::Kind;

namespace {

bool compare(uint32_t a, Cmp cmp, uint32_t b) noexcept {
  switch (cmp) {
    case Cmp::kEq:
      return a == b;
    case Cmp::kNe:
      return a != b;
    case Cmp::kGt:
      return a > b;
    case Cmp::kLt:
      return a < b;
    case Cmp::kGe:
      return a >= b;
    case Cmp::kLe:
      return a <= b;
  }
  return false;
}

std::optional<Cmp> parse_cmp(std::string_view op) {
  static constexpr std::pair<std::string_view, Cmp> kOps[] = {{"==", Cmp::kEq}, {"!=", Cmp::kNe},
                                                              {">", Cmp::kGt},  {"<", Cmp::kLt},
                                                              {">=", Cmp::kGe}, {"<=", Cmp::kLe}};
  for (const auto& [name, cmp] : kOps) {
    if (op == name) {
      return cmp;
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> parse_uint(std::string_view s) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return std::nullopt;
  }
  return v;
}

// A JSON number, or a string of digits.
std::optional<uint32_t> number_of(simdjson::dom::element el) {
  uint64_t n = 0;
  if (el.get_uint64().get(n) == simdjson::SUCCESS) {
    return n <= UINT32_MAX ? std::optional<uint32_t>(static_cast<uint32_t>(n)) : std::nullopt;
  }
  std::string_view s;
  if (el.get_string().get(s) == simdjson::SUCCESS) {
    return parse_uint(s);
  }
  return std::nullopt;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct ConditionBuilder {
  Condition c;
  std::string* error;

  bool fail(const std::string& path, const std::string& message) {
    *error = (path.empty() ? std::string() : "element " + path + ": ") + message;
    return false;
  }

  bool build(simdjson::dom::element el, const std::string& path, uint32_t depth) {
    simdjson::dom::array arr;
    if (el.get_array().get(arr) != simdjson::SUCCESS || arr.size() == 0) {
      return fail(path, "must be a non-empty array");
    }
    std::string_view head;
    if (arr.at(0).get_string().get(head) != simdjson::SUCCESS) {
      return fail(path + "[0]", "must be a string (AND, OR or an operand)");
    }
    if (iequals(head, "AND") || iequals(head, "OR")) {
      return build_group(arr, iequals(head, "AND") ? Kind::kAnd : Kind::kOr, path, depth);
    }
    return build_test(arr, head, path);
  }

  bool build_group(simdjson::dom::array arr, Kind kind, const std::string& path, uint32_t depth) {
    if (depth >= Condition::kMaxDepth) {
      return fail(path, "nested deeper than " + std::to_string(Condition::kMaxDepth));
    }
    if (arr.size() < 2) {
      return fail(path, "needs at least one operand after AND/OR");
    }
    const auto self = static_cast<uint32_t>(c.nodes_.size());
    c.nodes_.push_back({kind});
    std::vector<uint32_t> kids;
    for (size_t i = 1; i < arr.size(); ++i) {
      kids.push_back(static_cast<uint32_t>(c.nodes_.size()));
      if (!build(arr.at(i).value_unsafe(), path + "[" + std::to_string(i) + "]", depth + 1)) {
        return false;
      }
    }
    c.nodes_[self].first = static_cast<uint32_t>(c.children_.size());
    c.nodes_[self].count = static_cast<uint32_t>(kids.size());
    c.children_.insert(c.children_.end(), kids.begin(), kids.end());
    return true;
  }

  bool build_test(simdjson::dom::array arr, std::string_view operand, const std::string& path) {
    const bool status = operand == "$context.statusCode";
    if (!status && operand != "$context.backendResponseTime") {
      return fail(path + "[0]", "unknown operand \"" + std::string(operand) +
                                    "\" ($context.statusCode, $context.backendResponseTime)");
    }
    std::string_view op;
    if (arr.size() != 3 || arr.at(1).get_string().get(op) != simdjson::SUCCESS) {
      return fail(path, "must be [operand, operator, value]");
    }
    if (status && op == "in") {
      return build_status_in(arr.at(2).value_unsafe(), path + "[2]");
    }
    std::optional<Cmp> cmp = parse_cmp(op);
    if (!cmp) {
      return fail(path + "[1]", "unknown operator \"" + std::string(op) + "\"");
    }
    std::optional<uint32_t> v = number_of(arr.at(2).value_unsafe());
    if (!v) {
      return fail(path + "[2]", "must be a whole number");
    }
    Condition::Node n{status ? Kind::kStatus : Kind::kLatency, *cmp};
    n.value = *v;
    c.nodes_.push_back(n);
    return true;
  }

  bool build_status_in(simdjson::dom::element el, const std::string& path) {
    std::string_view list;
    if (el.get_string().get(list) != simdjson::SUCCESS) {
      return fail(path, "must be a comma-separated list of status codes");
    }
    Condition::StatusSet set;
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      while (!item.empty() && item.front() == ' ') {
        item.remove_prefix(1);
      }
      while (!item.empty() && item.back() == ' ') {
        item.remove_suffix(1);
      }
      std::optional<uint32_t> code = parse_uint(item);
      if (!code || *code < 100 || *code > 599) {
        return fail(path, "\"" + std::string(item) + "\" is not a status code (100-599)");
      }
      set.bits[*code / 64] |= uint64_t{1} << (*code % 64);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    Condition::Node n{Kind::kStatusIn};
    n.set = static_cast<uint32_t>(c.sets_.size());
    c.sets_.push_back(set);
    c.nodes_.push_back(n);
    return true;
  }
};

std::optional<Condition> Condition::compile(std::string_view json, std::string* error) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
    *error = "not valid JSON";
    return std::nullopt;
  }
  std::string_view inner;
  std::string held;  // the array a string holds: parsed again, by its own parser
  simdjson::dom::parser inner_parser;
  if (root.get_string().get(inner) == simdjson::SUCCESS) {
    held = std::string(inner);
    if (inner_parser.parse(held).get(root) != simdjson::SUCCESS) {
      *error = "the string does not hold a JSON array";
      return std::nullopt;
    }
  }
  ConditionBuilder b{{}, error};
  if (!b.build(root, "", 0)) {
    return std::nullopt;
  }
  return std::move(b.c);
}

bool Condition::eval(uint32_t node, const Outcome& o) const noexcept {
  const Node& n = nodes_[node];
  switch (n.kind) {
    case Kind::kAnd:
    case Kind::kOr: {
      const bool any = n.kind == Kind::kOr;
      for (uint32_t i = 0; i < n.count; ++i) {
        if (eval(children_[n.first + i], o) == any) {
          return any;
        }
      }
      return !any;
    }
    case Kind::kStatusIn:
      return sets_[n.set].contains(o.status);
    case Kind::kStatus:
      return compare(o.status, n.cmp, n.value);
    case Kind::kLatency:
      return compare(o.latency_ms, n.cmp, n.value);
  }
  return false;
}

}  // namespace ringway::breaker
