// Issue 5: load-balance channels end to end: WRR shares and interleaving, member groups,
// weight 0 and disabled members, default Host, sh and uri_hash stickiness, WLC preferring
// the fast member. Members are stub backends on 127.0.0.1, 127.0.0.2 and 127.0.0.3.
#include <atomic>
#include <csignal>
#include <set>
#include <thread>

#include "channels.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;
using std::string_literals::operator""s;

constexpr int kSlowMs = 300;

MemberSpec Grouped(const Backend& b, std::string group, int weight) {
  MemberSpec m = MemberOf(b, weight);
  m.group = std::move(group);
  return m;
}

class ChannelsTest : public SharedChannelStackTest<ChannelsTest> {
 public:
  static std::vector<BackendOptions> Backends() {
    return {Stub("a"),
            Stub("b", "127.0.0.2"),
            Stub("c", "127.0.0.3"),
            Stub("d"),
            Stub("fast"),
            Stub("slow", "127.0.0.2", {"--delay-ms", std::to_string(kSlowMs)})};
  }
  static std::string Config(ChannelStack& s) {
    MemberSpec disabled = MemberOf(s.backend("d"), 5);
    disabled.enabled = false;
    ChannelSpec weighted{"weighted",
                         "wrr",
                         {MemberOf(s.backend("a"), 3), MemberOf(s.backend("b"), 1),
                          MemberOf(s.backend("c"), 0), disabled}};
    ChannelSpec grouped{"grouped",
                        "wrr",
                        {Grouped(s.backend("a"), "g1", 1), Grouped(s.backend("b"), "g1", 1),
                         Grouped(s.backend("c"), "g2", 3)},
                        R"([{"name":"g1","weight":3},{"name":"g2","weight":1}])"};
    std::vector<MemberSpec> abc = {MemberOf(s.backend("a")), MemberOf(s.backend("b")),
                                   MemberOf(s.backend("c"))};
    ChannelSpec least{"least", "wlc", {MemberOf(s.backend("fast")), MemberOf(s.backend("slow"))}};
    ConfigSpec spec;
    spec.extra = ChannelsMember(
        {weighted, grouped, {"by_source", "sh", abc}, {"by_uri", "uri_hash", abc}, least});
    spec.apis = {ChannelApi("weighted", "/weighted", "weighted"),
                 ChannelApi("grouped", "/grouped", "grouped"),
                 ChannelApi("by_source", "/sh", "by_source"),
                 ChannelApi("by_uri", "/uri", "by_uri"), ChannelApi("least", "/wlc", "least")};
    return BuildConfig(spec);
  }
};

// 3:1 over 1,000 requests on four connections (both shards): WRR is exact per shard.
TEST_F(ChannelsTest, WrrSplitsByMemberWeight) {
  Tally t = CountAnswers(port(), "/weighted/share", 1000, 4);
  EXPECT_TRUE(Near(t["a"], 750, 20)) << "a";
  EXPECT_TRUE(Near(t["b"], 250, 20)) << "b";
  EXPECT_EQ(t.size(), 2u) << ::testing::PrintToString(t);
}

TEST_F(ChannelsTest, WeightZeroAndDisabledMembersGetNothing) {
  Tally t = CountAnswers(port(), "/weighted/idle", 200, 2);
  EXPECT_EQ(t["a"] + t["b"], 200) << ::testing::PrintToString(t);
  EXPECT_EQ(backend("c").RequestCount(" /weighted/"), 0u) << "weight 0 member was used";
  EXPECT_EQ(backend("d").RequestCount(" /weighted/"), 0u) << "disabled member was used";
}

// Groups 3:1, then members 1:1 inside g1; c (member weight 3) is alone in g2.
TEST_F(ChannelsTest, GroupWeightsThenMemberWeights) {
  Tally t = CountAnswers(port(), "/grouped/share", 1000, 4);
  EXPECT_TRUE(Near(t["a"], 375, 20)) << "a";
  EXPECT_TRUE(Near(t["b"], 375, 20)) << "b";
  EXPECT_TRUE(Near(t["c"], 250, 20)) << "c";
  EXPECT_EQ(t.size(), 3u) << ::testing::PrintToString(t);
}

TEST_F(ChannelsTest, DefaultHostIsTheMemberAddress) {
  Client c(port());
  for (int i = 0; i < 4; ++i) {
    auto r = c.Get("/weighted/host/" + std::to_string(i));
    ASSERT_TRUE(HasStatus(r, 200)) << i;
    EXPECT_EQ(EchoHeader(*r, "host"), backend(Who(r)).address()) << i;
  }
}

// The member answering `target` for a client bound to `source_ip`, on a fresh connection.
std::string AnswerFrom(int port, const std::string& source_ip, const std::string& target) {
  Client c(port);
  c.BindSource(source_ip);
  return Who(c.Get(target));
}

TEST_F(ChannelsTest, ShSticksToTheSourceAddress) {
  std::set<std::string> used;
  for (int host = 1; host <= 10; ++host) {
    std::string ip = "127.0.0." + std::to_string(host);
    std::string first = AnswerFrom(port(), ip, "/sh/first");
    ASSERT_TRUE(first == "a" || first == "b" || first == "c") << ip << ": " << first;
    used.insert(first);
    for (int i = 0; i < 5; ++i) {
      std::string target = "/sh/again/" + std::to_string(i);
      EXPECT_EQ(AnswerFrom(port(), ip, target), first) << ip << " " << target;
    }
  }
  EXPECT_GE(used.size(), 2u) << "10 source addresses all hashed to one member";
}

TEST_F(ChannelsTest, UriHashSticksToThePathIgnoringTheQuery) {
  std::set<std::string> used;
  Client c(port());
  for (int k = 0; k < 12; ++k) {
    std::string path = "/uri/key-" + std::to_string(k);
    std::string first = Who(c.Get(path));
    ASSERT_TRUE(first == "a" || first == "b" || first == "c") << path << ": " << first;
    used.insert(first);
    for (const std::string& query :
         {std::string(), "?x=1"s, "?y=2&z=3"s, "?k="s + std::to_string(k)}) {
      EXPECT_EQ(Who(HttpGet(port(), path + query)), first) << path + query;
    }
  }
  EXPECT_GE(used.size(), 2u) << "12 paths all hashed to one member";
}

// Four clients send back-to-back requests for 1 s; the slow member holds each for
// 300 ms. WLC sends a new request to it only while it has no more active requests than the
// fast one, so the fast member gets far more (round robin would split them evenly).
TEST_F(ChannelsTest, WlcPrefersTheFastMember) {
  std::atomic<int> fast{0};
  std::atomic<int> slow{0};
  std::atomic<int> other{0};
  const auto deadline = Clock::now() + std::chrono::milliseconds(1000);
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      Client c(port());
      for (int i = 0; Clock::now() < deadline; ++i) {
        std::string who = Who(c.Get("/wlc/" + std::to_string(t) + "/" + std::to_string(i)));
        ++(who == "fast" ? fast : who == "slow" ? slow : other);
      }
    });
  }
  for (std::thread& t : clients) {
    t.join();
  }
  EXPECT_EQ(other.load(), 0);
  EXPECT_GE(slow.load(), 1) << "the slow member was never used";
  EXPECT_GE(fast.load(), 10 * slow.load()) << "fast " << fast << ", slow " << slow;
}

// 5:1:1 on one shard: smooth WRR interleaves (x x y x z x x), it does not burst.
TEST(ChannelsInterleaveTest, WrrInterleavesOnOneShard) {
  GatewayOptions one_shard;
  one_shard.shards = 1;
  ChannelStack stack;
  ASSERT_TRUE(stack.Start(
      {Stub("x"), Stub("y", "127.0.0.2"), Stub("z", "127.0.0.3")},
      [](ChannelStack& s) {
        ConfigSpec spec;
        spec.extra = ChannelsMember({{"smooth",
                                      "wrr",
                                      {MemberOf(s.backend("x"), 5), MemberOf(s.backend("y"), 1),
                                       MemberOf(s.backend("z"), 1)}}});
        spec.apis = {ChannelApi("smooth", "/smooth", "smooth")};
        return BuildConfig(spec);
      },
      one_shard));
  std::vector<std::string> order;
  Client c(stack.port());
  for (int i = 0; i < 14; ++i) {
    order.push_back(Who(c.Get("/smooth/" + std::to_string(i))));
  }
  const std::vector<std::string> cycle = {"x", "x", "y", "x", "z", "x", "x"};
  std::vector<std::string> want = cycle;
  want.insert(want.end(), cycle.begin(), cycle.end());
  EXPECT_EQ(order, want);
}

// Balancer state belongs to its compiled configuration. A shard that sent no channel
// traffic during a generation must not meet a later configuration with the state of a
// freed one (same address, fewer channels): each round serves the channel on the big
// configuration after a small one was used and freed.
TEST(ChannelsReloadTest, EachConfigurationHasItsOwnBalancerState) {
  GatewayOptions one_shard;
  one_shard.shards = 1;
  one_shard.log_level = "info";
  auto small = [](ChannelStack& s) {
    ConfigSpec spec;
    spec.extra = ChannelsMember({{"only", "wrr", {MemberOf(s.backend("x"))}}});
    spec.apis = {PingApi(), ChannelApi("lb", "/lb", "only")};
    return BuildConfig(spec);
  };
  auto big = [](ChannelStack& s, int round) {
    std::vector<ChannelSpec> channels;
    for (int i = 0; i < 6; ++i) {
      channels.push_back({"z" + std::to_string(i), "wrr", {MemberOf(s.backend("y"))}});
    }
    channels.push_back({"only",
                        "wrr",
                        {MemberOf(s.backend("y"), 1), MemberOf(s.backend("x"), 1 + round % 2),
                         MemberOf(s.backend("w"), 2)}});
    ConfigSpec spec;
    spec.extra = ChannelsMember(channels);
    spec.apis = {PingApi(), ChannelApi("lb", "/lb", "only")};
    return BuildConfig(spec);
  };
  ChannelStack stack;
  ASSERT_TRUE(
      stack.Start({Stub("x"), Stub("y", "127.0.0.2"), Stub("w", "127.0.0.3")}, small, one_shard));
  Gateway& gw = stack.gateway();
  int reloads = 0;
  auto reload = [&](const std::string& config) {
    gw.WriteConfig(config);
    gw.Signal(SIGHUP);
    ++reloads;
    return gw.WaitLog("reload ok generation=" + std::to_string(reloads + 1), 5000);
  };
  Client c(stack.port());
  for (int round = 0; round < 40; ++round) {
    ASSERT_TRUE(reload(small(stack))) << gw.LogTail();
    ASSERT_EQ(Who(c.Get("/lb/small")), "x") << "round " << round;
    ASSERT_TRUE(reload(big(stack, round))) << gw.LogTail();
    ASSERT_EQ(c.Get("/ping")->status, 200);  // a loop turn on the big one: the small is freed
    ASSERT_TRUE(reload(big(stack, round + 1))) << gw.LogTail();
    for (int i = 0; i < 4; ++i) {
      std::string who = Who(c.Get("/lb/big"));
      ASSERT_TRUE(who == "x" || who == "y" || who == "w") << "round " << round << ": " << who;
    }
  }
  ASSERT_TRUE(stack.Healthy());
}

}  // namespace
}  // namespace ringway::integration
