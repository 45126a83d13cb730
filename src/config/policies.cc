// Circuit-breaker policies (CONFIG.md "policies"): the seed's script format read field by
// field, with its `null` members read as absent and its UI-only fields (`disabled`,
// `focused`, `id`, `isVpc`) accepted and ignored. The expressions (`unhealthy_condition`,
// `match_regex`) are compiled here once to report their errors with the JSON path; the
// snapshot compiles them again for the shards.
#include <simdjson.h>

#include <algorithm>
#include <set>

#include "breaker/condition.h"
#include "breaker/rules.h"
#include "config/loader.h"
#include "config/values.h"

namespace ringway::config::internal {
namespace {

using Nulls = Obj::Nulls;

constexpr Choice<BreakerType> kBreakerTypes[] = {{"timeout", BreakerType::kTimeout},
                                                 {"condition", BreakerType::kCondition}};
constexpr Choice<BreakerMode> kBreakerModes[] = {{"counter", BreakerMode::kCounter},
                                                 {"percentage", BreakerMode::kPercentage}};
constexpr Choice<DowngradeType> kDowngradeTypes[] = {{"mock", DowngradeType::kMock},
                                                     {"http", DowngradeType::kHttp},
                                                     {"passthrough", DowngradeType::kPassthrough},
                                                     {"function", DowngradeType::kFunction}};
constexpr Choice<bool> kScopes[] = {{"basic", false}, {"share", true}};
constexpr Choice<bool> kInvocations[] = {{"sync", false}, {"async", true}};
constexpr Choice<Method> kMethods[] = {
    {"GET", Method::kGet},         {"POST", Method::kPost},   {"PUT", Method::kPut},
    {"DELETE", Method::kDelete},   {"PATCH", Method::kPatch}, {"HEAD", Method::kHead},
    {"OPTIONS", Method::kOptions},
};
constexpr uint32_t kMaxParameters = 64;
constexpr int64_t kMaxCount = 1000000000;

// An expression field: a JSON array, or a string holding one. Its JSON text, or "" (reported).
std::string expression_text(const Obj& o, std::string_view key, Need need) {
  std::optional<Value> v = o.field(key, need);
  if (!v) {
    return "";
  }
  if (v->el.is_string()) {
    return std::string(v->el.get_string().value_unsafe());
  }
  if (v->el.is_array()) {
    return simdjson::minify(v->el);
  }
  v->error("must be a JSON array or a string holding one");
  return "";
}

BreakerCondition read_condition(const Value& v) {
  Obj o(v,
        {"breaker_type", "breaker_mode", "unhealthy_threshold", "time_window", "open_breaker_time",
         "unhealthy_percentage", "min_call_threshold", "unhealthy_condition"},
        Nulls::kAbsent);
  BreakerCondition c;
  o.read("breaker_type", c.type, kBreakerTypes, Need::kRequired);
  bool mode_ok = o.read("breaker_mode", c.mode, kBreakerModes, Need::kRequired);
  o.read("time_window", c.time_window_s, 1, 3600, Need::kRequired);
  o.read("open_breaker_time", c.open_s, 1, 3600, Need::kRequired);
  bool counter = mode_ok && c.mode == BreakerMode::kCounter;
  bool percentage = mode_ok && c.mode == BreakerMode::kPercentage;
  o.read("unhealthy_threshold", c.unhealthy_threshold, 1, kMaxCount,
         counter ? Need::kRequired : Need::kOptional);
  o.read("unhealthy_percentage", c.unhealthy_percentage, 1, 100,
         percentage ? Need::kRequired : Need::kOptional);
  o.read("min_call_threshold", c.min_calls, 1, kMaxCount,
         percentage ? Need::kRequired : Need::kOptional);
  if (c.type == BreakerType::kCondition) {
    c.unhealthy_condition = expression_text(o, "unhealthy_condition", Need::kRequired);
    std::string error;
    if (!c.unhealthy_condition.empty() &&
        !breaker::Condition::compile(c.unhealthy_condition, &error)) {
      o.ctx().error(o.path("unhealthy_condition"), error);
    }
  }
  return c;
}

void read_header_list(const Obj& o, std::string_view key,
                      std::vector<std::pair<std::string, std::string>>& out) {
  std::vector<std::pair<std::string, std::string>> items;
  read_list(o, key, items, [&out](const Value& v, std::pair<std::string, std::string>& h) {
    Obj item(v, {"key", "value"}, Nulls::kAbsent);
    if (item.read("key", h.first, Need::kRequired) && item.read("value", h.second)) {
      std::string error = check_header_field(h.first, h.second);
      if (!error.empty()) {
        item.error(error);
        return;
      }
      out.push_back(h);
    }
  });
}

void read_mock_info(const Obj& o, Downgrade& d) {
  std::optional<Value> v = o.field("mock_info", Need::kRequired);
  if (!v) {
    return;
  }
  Obj m(*v, {"status_code", "result_content", "headers"}, Nulls::kAbsent);
  m.read("status_code", d.mock_status, 200, 599);
  m.read("result_content", d.mock_body);
  read_header_list(m, "headers", d.mock_headers);
}

// "HTTP"/"HTTPS" in any case; https comes with TLS.
void read_scheme(const Obj& o) {
  std::string scheme = "http";
  if (o.read("scheme", scheme)) {
    scheme = ascii_lower(scheme);
    if (scheme == "https") {
      o.ctx().error(o.path("scheme"), "not supported yet");
    } else if (scheme != "http") {
      o.ctx().error(o.path("scheme"), one_of_message({"HTTP", "HTTPS"}, scheme));
    }
  }
}

void read_http_info(const Obj& o, const Registry& reg, Downgrade& d) {
  std::optional<Value> v = o.field("http_info");
  if (!v) {
    v = o.field("http_vpc_info", Need::kRequired);
  }
  if (!v) {
    return;
  }
  Obj h(*v, {"isVpc", "vpc_channel_id", "address", "scheme", "method", "path", "timeout"},
        Nulls::kAbsent);
  std::string channel;
  h.read("vpc_channel_id", channel);
  if (!channel.empty()) {
    reg.channels.read_ref(h, "vpc_channel_id", d.http_channel);
  } else {
    h.read_checked(
        "address", d.http_address.text,
        [&d](std::string_view s) -> std::string {
          std::optional<Address> a = parse_address(s);
          if (!a && is_host_name(s)) {
            a = Address{std::string(s), std::string(s), 80, false};
          }
          if (!a || a->port == 0) {
            return "must be host or host:port, like 10.10.10.10:8080 (got " + quote(s) + ")";
          }
          d.http_address = *a;
          return "";
        },
        Need::kRequired);
  }
  read_scheme(h);
  std::string method;
  if (h.read("method", method) && !method.empty()) {
    Method m = Method::kAny;
    if (h.read("method", m, kMethods)) {
      d.http_method = m;
    }
  }
  h.read_checked("path", d.http_path, [](std::string_view s) -> std::string {
    return !s.empty() && s[0] == '/' && s.find_first_of(" \r\n\t") == std::string_view::npos
               ? ""
               : "must be a path starting with / (got " + quote(s) + ")";
  });
  h.read("timeout", d.timeout_ms, 1, 600000);
}

// func_info.function_urn: "http://host:port/path" (port defaults to 80, path to /).
std::string check_function_url(std::string_view s, Downgrade& d) {
  std::string bad = "must be an http URL like http://127.0.0.1:9000/fn (got " + quote(s) + ")";
  constexpr std::string_view kHttp = "http://";
  if (s.substr(0, kHttp.size()) != kHttp) {
    return s.substr(0, 8) == "https://" ? "https functions are not supported yet" : bad;
  }
  std::string_view rest = s.substr(kHttp.size());
  size_t slash = rest.find('/');
  std::string_view host = rest.substr(0, slash);
  std::optional<Address> a = parse_address(host);
  if (!a && is_host_name(host)) {
    a = Address{std::string(host), std::string(host), 80, false};
  }
  std::string_view path = slash == std::string_view::npos ? "/" : rest.substr(slash);
  if (!a || a->port == 0 || path.find_first_of(" \r\n\t") != std::string_view::npos) {
    return bad;
  }
  d.function_address = *a;
  d.function_path = std::string(path);
  return "";
}

void read_func_info(const Obj& o, Downgrade& d) {
  std::optional<Value> v = o.field("func_info", Need::kRequired);
  if (!v) {
    return;
  }
  Obj f(*v,
        {"function_urn", "function_name", "version", "alias", "invocation_type", "timeout",
         "network_type"},
        Nulls::kAbsent);
  std::string urn;
  f.read_checked(
      "function_urn", urn, [&d](std::string_view s) { return check_function_url(s, d); },
      Need::kRequired);
  f.read("invocation_type", d.function_async, kInvocations);
  f.read("timeout", d.timeout_ms, 1, 600000);
}

std::optional<Downgrade> read_downgrade(const Obj& parent, std::string_view key,
                                        const Registry& reg) {
  std::optional<Value> v = parent.field(key);
  if (!v) {
    return std::nullopt;  // absent or null: no downgrade backend
  }
  Obj o(*v,
        {"type", "passthrough_infos", "func_info", "mock_info", "http_info", "http_vpc_info", "id"},
        Nulls::kAbsent);
  Downgrade d;
  if (!o.read("type", d.type, kDowngradeTypes, Need::kRequired)) {
    return d;
  }
  switch (d.type) {
    case DowngradeType::kMock:
      read_mock_info(o, d);
      break;
    case DowngradeType::kHttp:
      read_http_info(o, reg, d);
      break;
    case DowngradeType::kPassthrough:
      read_header_list(o, "passthrough_infos", d.passthrough_headers);
      break;
    case DowngradeType::kFunction:
      read_func_info(o, d);
      break;
  }
  return d;
}

void read_parameters(const Obj& o, BreakerPolicy& bp) {
  Names names("downgrade parameter");
  read_list(o, "downgrade_parameters", bp.parameters,
            [&names](const Value& v, DowngradeParameter& p) {
              Obj item(v, {"name", "type", "value", "disabled", "focused", "id"}, Nulls::kAbsent);
              names.read(item, p.name);
              item.read("type", p.type, Need::kRequired);
              item.read("value", p.value);
              std::string error;
              if (!p.type.empty() && !breaker::make_param(p.name, p.type, p.value, &error)) {
                item.error(error);
              }
            });
  if (bp.parameters.size() > kMaxParameters) {
    o.ctx().error(o.path("downgrade_parameters"), "at most 64 parameters");
  }
}

std::vector<breaker::Param> compiled_params(const BreakerPolicy& bp) {
  std::vector<breaker::Param> out;
  for (const DowngradeParameter& p : bp.parameters) {
    std::string error;
    std::optional<breaker::Param> param = breaker::make_param(p.name, p.type, p.value, &error);
    out.push_back(param ? *param : breaker::Param{p.name, breaker::ParamSource::kPath, "", {}});
  }
  return out;
}

void read_rule(const Value& v, const Registry& reg, const std::vector<breaker::Param>& params,
               DowngradeRule& r) {
  Obj o(v, {"rule_name", "parameters", "match_regex", "downgrade_backend", "breaker_condition"},
        Nulls::kAbsent);
  o.read_checked(
      "rule_name", r.name,
      [](std::string_view s) -> std::string {
        return is_name(s) ? ""
                          : "must be 1-64 characters of A-Z a-z 0-9 _ - (got " + quote(s) + ")";
      },
      Need::kRequired);
  read_list(o, "parameters", r.parameters, [&params](const Value& p, std::string& name) {
    std::optional<std::string> s = p.string();
    if (s && std::none_of(params.begin(), params.end(),
                          [&s](const breaker::Param& q) { return q.name == *s; })) {
      p.error("unknown downgrade parameter " + quote(*s));
    }
    name = s.value_or("");
  });
  r.match_regex = expression_text(o, "match_regex", Need::kRequired);
  std::string error;
  if (!r.match_regex.empty() && !breaker::Match::compile(r.match_regex, params, &error)) {
    o.ctx().error(o.path("match_regex"), error);
  }
  r.backend = read_downgrade(o, "downgrade_backend", reg);
  if (std::optional<Value> c = o.field("breaker_condition")) {
    r.condition = read_condition(*c);
  }
}

void read_breaker(const Value& v, const Registry& reg, BreakerPolicy& bp) {
  Obj o(v,
        {"breaker_condition", "scope", "downgrade_default", "downgrade_parameters",
         "downgrade_rules"},
        Nulls::kAbsent);
  if (std::optional<Value> c = o.field("breaker_condition", Need::kRequired)) {
    bp.condition = read_condition(*c);
  }
  o.read("scope", bp.share, kScopes);
  bp.downgrade = read_downgrade(o, "downgrade_default", reg);
  read_parameters(o, bp);
  std::vector<breaker::Param> params = compiled_params(bp);
  std::set<std::string> rule_names;
  read_list(o, "downgrade_rules", bp.rules, [&](const Value& rv, DowngradeRule& r) {
    read_rule(rv, reg, params, r);
    if (!r.name.empty() && !rule_names.insert(r.name).second) {
      rv.error("duplicate rule_name " + quote(r.name));
    }
  });
}

}  // namespace

void read_policies(const Obj& top, Registry& reg, Config& cfg) {
  read_named_list(top, "policies", cfg.policies, reg.policies, {"name", "type", "content"},
                  [&reg](const Obj& o, Policy& p) {
                    o.read_checked(
                        "type", p.type,
                        [](std::string_view s) {
                          return s == "circuit_breaker" ? ""
                                                        : one_of_message({"circuit_breaker"}, s);
                        },
                        Need::kRequired);
                    std::optional<Value> content = o.field("content", Need::kRequired);
                    if (content && content->object()) {
                      p.content_json = simdjson::minify(content->el);
                      if (p.type == "circuit_breaker") {
                        read_breaker(*content, reg, p.breaker);
                      }
                    }
                  });
}

}  // namespace ringway::config::internal
