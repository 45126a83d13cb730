// Circuit breakers as the shards see them (CONFIG.md "policies", "bindings";
// docs/circuit-breakers.md): for each binding of a policy to an (API, environment), its
// downgrade rules in order and then the default, each with its trigger state (a
// breaker::Breaker), what judges an outcome unhealthy and what answers while it is open.
//
// Built by control::compile_guards with the compiled configuration and immutable once
// published; the Breakers inside are the only mutable part (per-shard cells written by
// their shard, "open until" read by every shard and by readers such as the admin API).
// A Breaker is shared by the guards of one scope (`share`: every API bound to the policy
// in an environment) and carried into the next configuration when its policy did not
// change, so a reload keeps counts and open state.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "breaker/condition.h"
#include "breaker/rules.h"
#include "ringway/breaker.h"
#include "ringway/route.h"

namespace ringway::proxy {

enum class DowngradeKind : uint8_t {
  kReject,         // downgrade null: 503 JSON
  kMock,           // the configured response
  kHttp,           // another backend (url or channel)
  kPassthrough,    // the API's own backend, with headers added
  kFunctionSync,   // the function's URL; its answer is relayed
  kFunctionAsync,  // the function's URL; 202 at once, its answer discarded
};

// The metrics' and admin API's name of a kind: reject, mock, http, passthrough, function.
inline std::string_view downgrade_type(DowngradeKind kind) {
  switch (kind) {
    case DowngradeKind::kReject:
      return "reject";
    case DowngradeKind::kMock:
      return "mock";
    case DowngradeKind::kHttp:
      return "http";
    case DowngradeKind::kPassthrough:
      return "passthrough";
    case DowngradeKind::kFunctionSync:
    case DowngradeKind::kFunctionAsync:
      return "function";
  }
  return "reject";
}

// What answers while a breaker is open. Every answer carries `response_header`.
struct CompiledDowngrade {
  DowngradeKind kind = DowngradeKind::kReject;
  std::string label;  // "policy/rule" (rule "default" when no rule matched)
  // kMock: the response (the downgrade header is in mock_head). kHttp, kFunction*: where
  // requests go (url or channel, fixed_path, method, timeout).
  route::CompiledBackend backend;
  std::string request_headers;  // kPassthrough: "name: value\r\n" lines for the backend
  std::string response_header;  // "x-ringway-downgrade: <label>\r\n"
  std::string reject_headers;   // kReject: retry-after, then response_header
};

// One downgrade rule of a bound policy, or its default (the last of Guard::rules).
struct GuardRule {
  std::string name;                             // rule_name, or "default"
  std::optional<breaker::Match> match;          // unset for the default: matches every request
  std::optional<breaker::Condition> condition;  // unset: breaker_type timeout
  uint32_t open_s = 0;
  std::shared_ptr<breaker::Breaker> breaker;
  CompiledDowngrade downgrade;
  // ringway_downgraded_requests_total's row (metrics::Store::downgrades); set by compile.
  uint32_t metrics_row = UINT32_MAX;
};

// A circuit-breaker policy bound to an API in an environment.
struct Guard {
  std::string policy;
  std::string api;
  std::string environment;
  std::vector<breaker::Param> params;  // downgrade_parameters, in order
  uint64_t used_params = 0;            // bit i: some rule reads params[i]
  std::vector<GuardRule> rules;        // the downgrade rules in order, then the default

  // The first rule whose match holds for `values` (values[i] of params[i]); the default
  // when none does.
  const GuardRule& pick(const std::string_view* values) const noexcept {
    for (size_t i = 0; i + 1 < rules.size(); ++i) {
      if (rules[i].match->matches(values)) {
        return rules[i];
      }
    }
    return rules.back();
  }
};

// The guards of a configuration and where each binding's is.
struct Guards {
  std::vector<Guard> guards;
  std::vector<int32_t> index;  // [api * environments + environment]: guard, or -1
  uint32_t environments = 0;
  // Breakers by identity (policy, its content, scope key, environment, rule): what the next
  // configuration takes over when the same identity appears in it. Control thread only.
  std::map<std::string, std::shared_ptr<breaker::Breaker>> by_identity;

  const Guard* find(uint32_t api, uint32_t environment) const noexcept {
    if (index.empty()) {
      return nullptr;
    }
    int32_t g = index[api * environments + environment];
    return g < 0 ? nullptr : &guards[static_cast<uint32_t>(g)];
  }
};

}  // namespace ringway::proxy
