// A circuit breaker's `unhealthy_condition` (CONFIG.md "policies"), compiled once per
// configuration: which outcomes of the guarded backend count as unhealthy.
//
// The expression is a JSON array, or a string holding one:
//   ["$context.statusCode", "in", "500,501,504"]      status in a comma list
//   ["$context.statusCode", ">=", 500]                 ==, !=, >, <, >=, <= on the status
//   ["$context.backendResponseTime", ">", 6000]        the same on the latency (ms)
//   ["AND", e1, e2, ...] / ["OR", e1, e2, ...]         nesting, at most kMaxDepth deep
// Numbers may be given as JSON numbers or as strings of digits.
//
// Thread affinity: compile() on the control thread (it parses JSON and allocates);
// holds() from any shard, without allocating.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::breaker {

// What an outcome is judged on: the backend's status and how long it took to answer.
struct Outcome {
  uint16_t status = 0;
  uint32_t latency_ms = 0;
};

class Condition {
 public:
  static constexpr uint32_t kMaxDepth = 8;

  // Compiles `json`. On failure returns nullopt and sets `error` ("element [1][0]: unknown
  // operand \"$context.x\"", paths relative to the expression).
  static std::optional<Condition> compile(std::string_view json, std::string* error);

  bool holds(const Outcome& o) const noexcept { return eval(0, o); }

  struct Node {
    enum class Kind : uint8_t { kAnd, kOr, kStatusIn, kStatus, kLatency };
    enum class Cmp : uint8_t { kEq, kNe, kGt, kLt, kGe, kLe };
    Kind kind = Kind::kAnd;
    Cmp cmp = Cmp::kEq;
    uint32_t value = 0;             // kStatus, kLatency
    uint32_t first = 0, count = 0;  // kAnd, kOr: children are nodes_[children_[first..]]
    uint32_t set = 0;               // kStatusIn: index of its status set in sets_
  };

 private:
  friend struct ConditionBuilder;
  // 100..599 as bits.
  struct StatusSet {
    uint64_t bits[10] = {};
    bool contains(uint16_t s) const noexcept {
      return s < 640 && (bits[s / 64] >> (s % 64) & 1) != 0;
    }
  };
  bool eval(uint32_t node, const Outcome& o) const noexcept;

  std::vector<Node> nodes_;  // nodes_[0] is the root
  std::vector<uint32_t> children_;
  std::vector<StatusSet> sets_;
};

}  // namespace ringway::breaker
