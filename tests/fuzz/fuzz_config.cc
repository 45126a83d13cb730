// libFuzzer target: the configuration loader and the snapshot compile, as a reload runs them.
//
// Input: a JSON document (seeds: complete configurations with channels, policies, downgrade
// rules, match_regex and unhealthy_condition expressions; fuzz_config.dict has the schema's
// names). load_config must report errors as values (never throw, never crash); a document it
// accepts is compiled (control::compile, host names resolving only as IP literals:
// numeric_dns.h), turned into a snapshot, and compiled again with the first as the previous
// configuration (a reload keeping breaker state). Each accepted policy's expressions are also
// compiled alone and evaluated on a few requests and outcomes.
#include <string>
#include <string_view>
#include <vector>

#include "breaker/condition.h"
#include "breaker/rules.h"
#include "control/snapshot.h"
#include "fuzz_common.h"
#include "numeric_dns.h"
#include "ringway/config.h"

namespace ringway::fuzz {
namespace {

void evaluate_policies(const config::Config& cfg) {
  static const breaker::Outcome kOutcomes[] = {{200, 5}, {500, 10}, {504, 7000}, {101, 0}};
  for (const config::Policy& p : cfg.policies) {
    const config::BreakerPolicy& b = p.breaker;
    std::vector<const config::BreakerCondition*> conditions{&b.condition};
    for (const config::DowngradeRule& r : b.rules) {
      if (r.condition) {
        conditions.push_back(&*r.condition);
      }
    }
    for (const config::BreakerCondition* c : conditions) {
      if (c->type != config::BreakerType::kCondition) {
        continue;
      }
      std::string error;
      const auto cond = breaker::Condition::compile(c->unhealthy_condition, &error);
      FUZZ_CHECK(cond.has_value());  // the loader accepted it
      for (const breaker::Outcome& o : kOutcomes) {
        (void)cond->holds(o);
      }
    }
    std::vector<breaker::Param> params;
    for (const config::DowngradeParameter& d : b.parameters) {
      std::string error;
      auto param = breaker::make_param(d.name, d.type, d.value, &error);
      FUZZ_CHECK(param.has_value());
      params.push_back(std::move(*param));
    }
    const std::vector<std::string_view> values(params.size(), "/test/a?b=1");
    const std::vector<std::string_view> empty(params.size(), "");
    for (const config::DowngradeRule& r : b.rules) {
      if (r.match_regex.empty()) {
        continue;
      }
      std::string error;
      const auto match = breaker::Match::compile(r.match_regex, params, &error);
      FUZZ_CHECK(match.has_value());
      if (!params.empty()) {
        (void)match->matches(values.data());
        (void)match->matches(empty.data());
      }
    }
  }
}

}  // namespace
}  // namespace ringway::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringway;
  const std::string json(reinterpret_cast<const char*>(data), size);
  // A directory without files: relative file: secrets and TLS paths resolve to nothing.
  config::LoadResult r = config::load_config(json, "/nonexistent-fuzz-dir");
  FUZZ_CHECK(r.ok() || !r.errors.empty());
  for (const config::Error& e : r.errors) {
    FUZZ_CHECK(!e.message.empty());
  }
  const std::string redacted = config::redacted_json(json);
  if (!redacted.empty()) {
    FUZZ_CHECK(config::redacted_json(redacted) == redacted);  // compact output is a fixpoint
  }
  if (!r.ok()) {
    return 0;
  }
  fuzz::evaluate_policies(*r.config);
  config::Config copy = *r.config;
  std::vector<config::Error> errors;
  auto first = control::compile(std::move(*r.config), 2, &errors);
  FUZZ_CHECK((first != nullptr) == errors.empty());
  if (first == nullptr) {
    return 0;
  }
  auto snap = control::make_snapshot(first, {});
  FUZZ_CHECK(snap->up.size() == first->channels.size());
  auto second = control::compile(std::move(copy), 2, &errors, first.get());
  FUZZ_CHECK(second != nullptr && errors.empty());  // the same document compiles again
  return 0;
}
