// Load-balance channel helpers of the integration harness: channel and API JSON, named stub
// backends on several loopback addresses, a gateway in front of them, and tallies of which
// member answered (the stub's echo names its server).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "harness.h"

namespace ringway::integration {

// ---- configuration ----

struct MemberSpec {
  std::string host;
  int port = 0;
  int weight = 1;
  std::string group;  // empty: none
  bool is_backup = false;
  bool enabled = true;
};
MemberSpec MemberOf(const Backend& b, int weight = 1);

struct ChannelSpec {
  std::string name;
  std::string strategy = "wrr";
  std::vector<MemberSpec> members;
  std::string member_groups;  // JSON array, or empty
  std::string health_check;   // JSON object, or empty
};
// The top-level "channels" member, for ConfigSpec::extra.
std::string ChannelsMember(const std::vector<ChannelSpec>& channels);

// ANY `prefix` (prefix match) proxied to `channel` with the path unchanged: "/p/x" reaches
// the member as "/p/x". `backend_extra` as for ProxyApi, e.g. R"("retry_count":0)".
std::string ChannelApi(std::string_view name, std::string_view prefix, std::string_view channel,
                       std::string_view backend_extra = "");

// The "policies" and "bindings" members: policy "cb", a counter breaker (threshold 1, 60 s
// window and open time) on statuses 500 and 502, no downgrade (503), bound to `api` in
// RELEASE.
std::string BreakerPolicy(std::string_view api);

// The checks of the health tests: every 5 s (the minimum), 2 s timeout, thresholds 2.
std::string TcpHealthCheck();
std::string HttpHealthCheck(std::string_view path);

// ---- processes ----

BackendOptions Stub(std::string name, std::string host = "127.0.0.1",
                    std::vector<std::string> extra_args = {});

// Named stub backends and a gateway whose config is made from them.
class ChannelStack {
 public:
  using ConfigFn = std::function<std::string(ChannelStack&)>;
  ::testing::AssertionResult Start(const std::vector<BackendOptions>& backends,
                                   const ConfigFn& config, const GatewayOptions& opts = {});
  // Failure text for a stack that did not start or whose gateway has died.
  ::testing::AssertionResult Healthy();
  Backend& backend(const std::string& name);
  Gateway& gateway() { return gateway_; }
  int port() const { return gateway_.port(); }

 private:
  std::map<std::string, std::unique_ptr<Backend>, std::less<>> backends_;
  Gateway gateway_;
  std::string start_error_ = "not started";
};

// One ChannelStack shared by all tests of a suite: `Derived::Backends()` lists the stubs,
// `Derived::Config(ChannelStack&)` builds the config, `Derived::Options()` (optional) the
// gateway options.
template <typename Derived>
class SharedChannelStackTest : public SharedStackFixture<Derived, ChannelStack> {
 public:
  static ::testing::AssertionResult StartStack(ChannelStack& s) {
    return s.Start(Derived::Backends(), &Derived::Config, Derived::Options());
  }

 protected:
  static Backend& backend(const std::string& name) {
    return SharedChannelStackTest::stack().backend(name);
  }
};

// ---- who answered ----

// The answering stub's name for a 200 echo, else "status N" or "no response".
std::string Who(const std::optional<Response>& r);

using Tally = std::map<std::string, int>;
// Sends `n` requests `method prefix/<i>` (i = 0..n-1) spread round-robin over
// `connections` keep-alive connections, and counts Who() answered.
Tally CountAnswers(int port, std::string_view prefix, int n, int connections = 1,
                   std::string_view method = "GET");
// Sends requests on fresh connections until `name` answers one; false at the deadline.
bool WaitAnsweredBy(int port, std::string_view target, std::string_view name, int timeout_ms);

// How many requests a stub logged for exactly `method target` (the whole request line).
size_t RequestsFor(const Backend& b, std::string_view method, std::string_view target);

// `value` within `want` ± `tolerance`.
::testing::AssertionResult Near(int value, int want, int tolerance);

}  // namespace ringway::integration
