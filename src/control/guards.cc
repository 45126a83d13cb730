// Builds the circuit-breaker guards of a configuration (proxy/guard.h) from its policies
// and bindings. Control thread only: it allocates, compiles expressions and resolves
// downgrade addresses (getaddrinfo blocks).
#include "control/guards.h"

#include <algorithm>

#include "ringway/config.h"

namespace ringway::control {

using proxy::CompiledDowngrade;
using proxy::DowngradeKind;
using proxy::Guard;
using proxy::GuardRule;
using proxy::Guards;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

constexpr std::string_view kMethodText[] = {"GET",   "POST", "PUT",     "DELETE",
                                            "PATCH", "HEAD", "OPTIONS", ""};

breaker::Trigger trigger_of(const config::BreakerCondition& c) {
  breaker::Trigger t;
  t.mode = c.mode == config::BreakerMode::kCounter ? breaker::Mode::kCounter
                                                   : breaker::Mode::kPercentage;
  t.unhealthy_threshold = c.unhealthy_threshold;
  t.time_window_s = c.time_window_s;
  t.open_s = c.open_s;
  t.unhealthy_percentage = c.unhealthy_percentage;
  t.min_calls = c.min_calls;
  return t;
}

int32_t channel_index(const config::Config& cfg, const std::string& name) {
  for (size_t i = 0; i < cfg.channels.size(); ++i) {
    if (cfg.channels[i].name == name) {
      return static_cast<int32_t>(i);
    }
  }
  return -1;
}

// A url or channel backend at `path` (http and function downgrades).
bool forward_backend(const config::Config& cfg, const std::string& channel,
                     const config::Address& addr, std::string path, uint32_t timeout_ms,
                     route::CompiledBackend* b, std::string* why) {
  b->type = config::BackendType::kHttp;
  b->fixed_path = std::move(path);
  b->timeout_ms = timeout_ms;
  b->retry_count = 0;  // a downgrade is tried once
  if (!channel.empty()) {
    b->channel = channel;
    b->channel_index = channel_index(cfg, channel);
    return true;
  }
  if (!config::resolve_address(addr.host, addr.port, &b->addr, &b->addr_len, why)) {
    return false;
  }
  b->authority = config::authority(addr.host, addr.port, 80);
  b->host_header = b->authority;
  return true;
}

void mock_backend(const config::Downgrade& d, const std::string& response_header,
                  route::CompiledBackend* b) {
  b->type = config::BackendType::kMock;
  std::string head = route::status_line(d.mock_status);
  bool typed = false;
  for (const auto& [name, value] : d.mock_headers) {
    head += name + ": " + value + "\r\n";
    typed = typed || iequals(name, "content-type");
  }
  if (!typed && !d.mock_body.empty()) {
    head += "content-type: application/json\r\n";  // the seed's result_content is JSON
  }
  head += response_header;
  head += "content-length: " + std::to_string(d.mock_body.size()) + "\r\n";
  b->mock_head = std::move(head);
  b->mock_body = d.mock_body;
  b->mock_status = d.mock_status;
}

// `d` unset: the 503 answer. `path`: the downgrade's JSON path, for errors.
bool compile_downgrade(const config::Config& cfg, const std::optional<config::Downgrade>& d,
                       std::string label, const std::string& path, CompiledDowngrade* out,
                       std::vector<config::Error>* errors) {
  out->label = std::move(label);
  out->response_header = "x-ringway-downgrade: " + out->label + "\r\n";
  out->reject_headers = "retry-after: 1\r\n" + out->response_header;
  if (!d) {
    out->kind = DowngradeKind::kReject;
    return true;
  }
  std::string why;
  switch (d->type) {
    case config::DowngradeType::kMock:
      out->kind = DowngradeKind::kMock;
      mock_backend(*d, out->response_header, &out->backend);
      return true;
    case config::DowngradeType::kPassthrough:
      out->kind = DowngradeKind::kPassthrough;
      for (const auto& [name, value] : d->passthrough_headers) {
        out->request_headers += name + ": " + value + "\r\n";
      }
      return true;
    case config::DowngradeType::kHttp:
      out->kind = DowngradeKind::kHttp;
      out->backend.method = d->http_method ? kMethodText[static_cast<size_t>(*d->http_method)] : "";
      if (forward_backend(cfg, d->http_channel, d->http_address, d->http_path, d->timeout_ms,
                          &out->backend, &why)) {
        return true;
      }
      errors->push_back({path + ".http_info.address", why});
      return false;
    case config::DowngradeType::kFunction:
      out->kind = d->function_async ? DowngradeKind::kFunctionAsync : DowngradeKind::kFunctionSync;
      if (forward_backend(cfg, "", d->function_address, d->function_path, d->timeout_ms,
                          &out->backend, &why)) {
        return true;
      }
      errors->push_back({path + ".func_info.function_urn", why});
      return false;
  }
  return false;
}

// The Breaker of one rule of a guard: the previous configuration's when its identity is
// there (same policy content, scope key, environment, rule), else the one this
// configuration made already for the same identity (share scope), else a new one.
std::shared_ptr<breaker::Breaker> breaker_for(const std::string& identity,
                                              const config::BreakerCondition& c, uint32_t shards,
                                              const Guards* previous, Guards* out) {
  auto [it, fresh] = out->by_identity.try_emplace(identity);
  if (fresh) {
    const std::shared_ptr<breaker::Breaker>* old = nullptr;
    if (previous != nullptr) {
      auto p = previous->by_identity.find(identity);
      old = p == previous->by_identity.end() ? nullptr : &p->second;
    }
    it->second = old != nullptr ? *old : std::make_shared<breaker::Breaker>(trigger_of(c), shards);
  }
  return it->second;
}

struct BindingContext {
  const config::Config& cfg;
  uint32_t shards;
  const Guards* previous;
  Guards* out;
  std::vector<config::Error>* errors;
};

bool compile_rule(const BindingContext& bc, const config::Policy& p, const config::Binding& b,
                  size_t policy_index, int rule_index, Guard& g) {
  const config::BreakerPolicy& bp = p.breaker;
  const config::DowngradeRule* r = rule_index < 0 ? nullptr : &bp.rules[rule_index];
  std::string ppath = "policies[" + std::to_string(policy_index) + "].content";
  GuardRule gr;
  gr.name = r != nullptr ? r->name : "default";
  const config::BreakerCondition& cond =
      r != nullptr && r->condition ? *r->condition : bp.condition;
  std::string error;
  if (r != nullptr) {
    gr.match = breaker::Match::compile(r->match_regex, g.params, &error);
    g.used_params |= gr.match ? gr.match->used_params() : 0;
  }
  if (cond.type == config::BreakerType::kCondition) {
    gr.condition = breaker::Condition::compile(cond.unhealthy_condition, &error);
  }
  if (!error.empty()) {  // the loader compiled these already: not expected
    bc.errors->push_back({ppath, error});
    return false;
  }
  gr.open_s = cond.open_s;
  std::string identity = p.name + '\n' + p.content_json + '\n' + (bp.share ? "" : b.api) + '\n' +
                         b.environment + '\n' + gr.name;
  gr.breaker = breaker_for(identity, cond, bc.shards, bc.previous, bc.out);
  const std::optional<config::Downgrade>& d =
      r != nullptr && r->backend ? r->backend : bp.downgrade;
  std::string dpath =
      r != nullptr && r->backend
          ? ppath + ".downgrade_rules[" + std::to_string(rule_index) + "].downgrade_backend"
          : ppath + ".downgrade_default";
  if (!compile_downgrade(bc.cfg, d, p.name + "/" + gr.name, dpath, &gr.downgrade, bc.errors)) {
    return false;
  }
  g.rules.push_back(std::move(gr));
  return true;
}

bool compile_binding(const BindingContext& bc, const config::Binding& b, Guard& g) {
  const std::vector<config::Policy>& policies = bc.cfg.policies;
  auto it = std::find_if(policies.begin(), policies.end(),
                         [&b](const config::Policy& p) { return p.name == b.policy; });
  const config::Policy& p = *it;
  g.policy = p.name;
  g.api = b.api;
  g.environment = b.environment;
  for (const config::DowngradeParameter& dp : p.breaker.parameters) {
    std::string error;
    g.params.push_back(
        breaker::make_param(dp.name, dp.type, dp.value, &error).value_or(breaker::Param{}));
  }
  size_t pi = static_cast<size_t>(it - policies.begin());
  for (int r = 0; r < static_cast<int>(p.breaker.rules.size()); ++r) {
    if (!compile_rule(bc, p, b, pi, r, g)) {
      return false;
    }
  }
  return compile_rule(bc, p, b, pi, -1, g);
}

}  // namespace

bool compile_guards(const config::Config& cfg, const route::RouteTable& routes, uint32_t shards,
                    const Guards* previous, Guards* out, std::vector<config::Error>* errors) {
  const std::vector<std::string>& envs = routes.environments();
  out->environments = static_cast<uint32_t>(envs.size());
  if (cfg.bindings.empty()) {
    return true;
  }
  out->index.assign(cfg.apis.size() * envs.size(), -1);
  BindingContext bc{cfg, shards, previous, out, errors};
  for (const config::Binding& b : cfg.bindings) {
    auto api = std::find_if(cfg.apis.begin(), cfg.apis.end(),
                            [&b](const config::Api& a) { return a.name == b.api; });
    auto env = std::find(envs.begin(), envs.end(), b.environment);
    if (api == cfg.apis.end() || env == envs.end()) {
      continue;  // the loader checked both: not expected
    }
    Guard g;
    if (!compile_binding(bc, b, g)) {
      return false;
    }
    size_t slot = static_cast<size_t>(api - cfg.apis.begin()) * envs.size() +
                  static_cast<size_t>(env - envs.begin());
    out->index[slot] = static_cast<int32_t>(out->guards.size());
    out->guards.push_back(std::move(g));
  }
  return true;
}

}  // namespace ringway::control
