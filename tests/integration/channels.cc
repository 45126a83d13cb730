// Load-balance channel helpers of the integration harness.
#include "channels.h"

namespace ringway::integration {
namespace {

std::string MemberJson(const MemberSpec& m) {
  std::string out = "{\"host\":" + JsonQuote(m.host) + ",\"port\":" + std::to_string(m.port) +
                    ",\"weight\":" + std::to_string(m.weight);
  if (!m.group.empty()) {
    out += ",\"group\":" + JsonQuote(m.group);
  }
  out += std::string(",\"is_backup\":") + (m.is_backup ? "true" : "false");
  return out + ",\"enabled\":" + (m.enabled ? "true" : "false") + "}";
}

std::string ChannelJson(const ChannelSpec& c) {
  std::string members;
  for (const MemberSpec& m : c.members) {
    members += (members.empty() ? "" : ",") + MemberJson(m);
  }
  // Every member names its port: the channel's default port is never used.
  std::string out = "{\"name\":" + JsonQuote(c.name) +
                    ",\"port\":9,\"balance_strategy\":" + JsonQuote(c.strategy) + ",\"members\":[" +
                    members + "]";
  if (!c.member_groups.empty()) {
    out += ",\"member_groups\":" + c.member_groups;
  }
  if (!c.health_check.empty()) {
    out += ",\"health_check\":" + c.health_check;
  }
  return out + "}";
}

std::string HealthCheck(std::string_view protocol_members) {
  return "{" + std::string(protocol_members) +
         R"(,"port":0,"healthy_threshold":2,"unhealthy_threshold":2,"timeout_s":2,)"
         R"("interval_s":5})";
}

}  // namespace

MemberSpec MemberOf(const Backend& b, int weight) {
  MemberSpec m;
  m.host = b.host();
  m.port = b.port();
  m.weight = weight;
  return m;
}

std::string ChannelsMember(const std::vector<ChannelSpec>& channels) {
  std::string out;
  for (const ChannelSpec& c : channels) {
    out += (out.empty() ? "" : ",\n    ") + ChannelJson(c);
  }
  return "\"channels\": [\n    " + out + "\n  ]";
}

std::string ChannelApi(std::string_view name, std::string_view prefix, std::string_view channel,
                       std::string_view backend_extra) {
  return HttpApi(name, "ANY", prefix, "\"channel\":" + JsonQuote(channel), prefix,
                 R"("match_mode":"prefix")", backend_extra);
}

std::string TcpHealthCheck() { return HealthCheck(R"("protocol":"tcp")"); }

std::string HttpHealthCheck(std::string_view path) {
  return HealthCheck(R"("protocol":"http","method":"GET","http_codes":"200","path":)" +
                     JsonQuote(path));
}

BackendOptions Stub(std::string name, std::string host, std::vector<std::string> extra_args) {
  BackendOptions opts;
  opts.name = std::move(name);
  opts.host = std::move(host);
  opts.extra_args = std::move(extra_args);
  return opts;
}

::testing::AssertionResult ChannelStack::Start(const std::vector<BackendOptions>& backends,
                                               const ConfigFn& config, const GatewayOptions& opts) {
  ::testing::AssertionResult r = ::testing::AssertionSuccess();
  for (const BackendOptions& b : backends) {
    auto backend = std::make_unique<Backend>();
    if (r) {
      r = backend->Start(b);
    }
    backends_[b.name] = std::move(backend);
  }
  if (r) {
    r = gateway_.Start(config(*this), opts);
  }
  start_error_ = r ? "" : r.message();
  return r;
}

::testing::AssertionResult ChannelStack::Healthy() { return StackHealth(start_error_, gateway_); }

Backend& ChannelStack::backend(const std::string& name) {
  auto it = backends_.find(name);
  if (it == backends_.end()) {
    ADD_FAILURE() << "no backend named " << name;
    it = backends_.emplace(name, std::make_unique<Backend>()).first;
  }
  return *it->second;
}

std::string Who(const std::optional<Response>& r) {
  if (!r) {
    return "no response";
  }
  return r->status == 200 ? EchoField(*r, "server") : "status " + std::to_string(r->status);
}

Tally CountAnswers(int port, std::string_view prefix, int n, int connections,
                   std::string_view method) {
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < connections; ++i) {
    clients.push_back(std::make_unique<Client>(port));
  }
  Tally tally;
  for (int i = 0; i < n; ++i) {
    Client& c = *clients[static_cast<size_t>(i % connections)];
    std::optional<Response> r = c.Request(method, std::string(prefix) + "/" + std::to_string(i));
    ++tally[Who(r)];
    if (!r || r->Header("connection") == "close") {
      c.Close();  // the next request on this client reconnects
    }
  }
  return tally;
}

bool WaitAnsweredBy(int port, std::string_view target, std::string_view name, int timeout_ms) {
  return PollUntil([&] { return Who(HttpGet(port, target)) == name; }, timeout_ms);
}

size_t RequestsFor(const Backend& b, std::string_view method, std::string_view target) {
  return b.RequestCount(" " + std::string(method) + " " + std::string(target) + "\n");
}

::testing::AssertionResult Near(int value, int want, int tolerance) {
  if (value < want - tolerance || value > want + tolerance) {
    return ::testing::AssertionFailure()
           << value << " is not within " << want << " +- " << tolerance;
  }
  return ::testing::AssertionSuccess();
}

std::string BreakerPolicy(std::string_view api) {
  return R"("policies":[{"name":"cb","type":"circuit_breaker","content":{"breaker_condition":)"
         R"({"breaker_type":"condition","breaker_mode":"counter","unhealthy_threshold":1,)"
         R"("time_window":60,"open_breaker_time":60,"unhealthy_percentage":51,)"
         R"("min_call_threshold":1,"unhealthy_condition":["$context.statusCode","in","500,502"]},)"
         R"("scope":"basic","downgrade_default":null}}],)"
         "\n  \"bindings\":[{\"policy\":\"cb\",\"api\":" +
         JsonQuote(api) + ",\"environment\":\"RELEASE\"}]";
}

}  // namespace ringway::integration
