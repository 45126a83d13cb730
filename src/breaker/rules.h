// A circuit-breaker policy's downgrade rules (CONFIG.md "policies"): the request values a
// policy names (`downgrade_parameters`) and each rule's `match_regex`, compiled once per
// configuration. The proxy extracts the values; nothing here knows HTTP or the config tree.
//
// The expression is a JSON array, or a string holding one:
//   ["reqPath", "==", "/test"]          equal ("=" too)
//   ["reqPath", "~=", "/test"]          not equal, Lua's spelling ("!=" too)
//   ["reqPath", "~~", "^/v[12]/"]       ECMAScript regex search ("pattern" too)
//   ["method", "in", "GET, POST"]       one item of a comma list, items trimmed of spaces
//                                       ("enum" too)
//   ["size", ">", 100] / ["size", "<", "1.5"]
//                                       decimal compare; a non-numeric request value never
//                                       matches
//   ["AND", e1, e2, ...] / ["OR", ...]  nesting (AND/OR in any case), at most kMaxDepth deep
// The first element of a test names a parameter. Values may be JSON strings or numbers; for
// the text operators a number stands for its shortest decimal text (200, 1.5). A request
// without the value is matched as the empty string.
//
// Thread affinity: make_param() and Match::compile() on the control thread (they parse and
// allocate); matches() from any shard.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::breaker {

// A policy's downgrade_parameters, resolved: where each named parameter's value comes from.
enum class ParamSource : uint8_t { kPath, kMethod, kHeader, kQuery, kSystem };
enum class SystemValue : uint8_t { kSourceIp, kStage, kApiName, kRequestId };
struct Param {
  std::string name;  // as rules refer to it ("reqPath")
  ParamSource source;
  std::string key;       // kHeader: header name lower-cased; kQuery: query parameter name
  SystemValue system{};  // kSystem: from `value` "source_ip" | "stage" | "api_name" | "request_id"
};

// Parses one downgrade_parameters entry's (type, value) pair: type path | method (value
// ignored), header | query (value names it, non-empty), system (value one of the above).
// nullopt + error message for an unknown type or system value, or an empty name or key.
// (The loader calls it per entry and adds the JSON path.)
std::optional<Param> make_param(std::string_view name, std::string_view type,
                                std::string_view value, std::string* error);

// One rule's match_regex compiled against the policy's parameters.
class Match {
 public:
  static constexpr uint32_t kMaxDepth = 8;
  static constexpr uint32_t kMaxParams = 64;  // used_params() is one bit per parameter

  // Compiles `json`: the match_regex string (a JSON array in a string) or the array itself.
  // `params`: the policy's parameters; an operand naming none of them, or one at index
  // kMaxParams or beyond, is an error. On failure returns nullopt and sets `error`
  // ("element [1][0]: unknown parameter \"x\" (reqPath, method)", paths relative to the
  // expression). Throws nothing: an invalid regex is an error like the others.
  static std::optional<Match> compile(std::string_view json, const std::vector<Param>& params,
                                      std::string* error);

  // values[i] is the request's value of params[i] (empty string_view when absent); only the
  // indexes in used_params() are read. Allocates nothing, except inside std::regex_search for
  // a `~~` test (libstdc++ allocates its match state; running out of memory there terminates).
  bool matches(const std::string_view* values) const noexcept { return eval(0, values); }

  // Bit i set when params[i] is referenced (so the proxy extracts only those values).
  uint64_t used_params() const noexcept { return used_; }

  struct Node {
    enum class Kind : uint8_t { kAnd, kOr, kEqual, kNotEqual, kSearch, kIn, kGreater, kLess };
    Kind kind = Kind::kAnd;
    uint8_t param = 0;  // tests: index of the value they read
    // kAnd, kOr: children are nodes_[children_[first..first+count)];
    // kEqual, kNotEqual, kIn: strings_[first..first+count); kSearch: regexes_[first].
    uint32_t first = 0, count = 0;
    double number = 0;  // kGreater, kLess
  };

 private:
  friend struct MatchBuilder;
  bool eval(uint32_t node, const std::string_view* values) const noexcept;

  std::vector<Node> nodes_;  // nodes_[0] is the root
  std::vector<uint32_t> children_;
  std::vector<std::string> strings_;
  std::vector<std::regex> regexes_;
  uint64_t used_ = 0;
};

}  // namespace ringway::breaker
