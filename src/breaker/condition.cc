// unhealthy_condition: compile (simdjson, control thread) and evaluation (shards).
#include "breaker/condition.h"

#include "breaker/expression.h"

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

}  // namespace

struct ConditionBuilder : expression::TreeBuilder<ConditionBuilder, Condition::Node> {
  static constexpr uint32_t kMaxDepth = Condition::kMaxDepth;
  static constexpr std::string_view kTestHead = "an operand";
  Condition& c;

  ConditionBuilder(Condition& cond, std::string* e)
      : TreeBuilder{cond.nodes_, cond.children_, e}, c(cond) {}

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
  expression::Document doc;
  Condition c;
  ConditionBuilder b(c, error);
  if (!doc.parse(json, error) || !b.build(doc.root(), "", 0)) {
    return std::nullopt;
  }
  return c;
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
