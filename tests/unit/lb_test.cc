// Unit tests of load balancing (ringway/lb.h) with fake health arrays: exact WRR
// sequences, group splitting, candidate rules (weight 0, disabled, standby, all down,
// tried), WLC over summed shard cells, and consistent hashing (remap on removal and on
// failure, weights, stickiness).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "ringway/lb.h"

namespace ringway::lb {
namespace {

using config::BalanceStrategy;

config::Member member(std::string host, uint32_t weight = 1, std::string group = "") {
  config::Member m;
  m.host = std::move(host);
  m.weight = weight;
  m.group = std::move(group);
  return m;
}

config::Member standby(std::string host) {
  config::Member m = member(std::move(host));
  m.is_backup = true;
  return m;
}

config::Member disabled(std::string host) {
  config::Member m = member(std::move(host));
  m.enabled = false;
  return m;
}

config::Channel channel(BalanceStrategy strategy, std::vector<config::Member> members,
                        std::vector<config::MemberGroup> groups = {}) {
  config::Channel ch;
  ch.name = "c";
  ch.port = 9000;
  ch.balance_strategy = strategy;
  ch.members = std::move(members);
  ch.member_groups = std::move(groups);
  return ch;
}

// One shard's view of a balancer, with a fake health array (all up at start).
struct Shard {
  explicit Shard(const config::Channel& ch, uint32_t shards = 1)
      : balancer(Balancer::build(ch, shards)),
        state(balancer.make_shard_state()),
        up(ch.members.size(), 1) {}

  uint32_t pick(uint64_t key = 0, const Tried& tried = {}) {
    return balancer.pick(state, Health{up.data(), static_cast<uint32_t>(up.size())}, key, tried);
  }
  // Picks for keys 0..n-1 (hashed) and counts per member; kNone counted at index size().
  std::vector<int> counts(int n) {
    std::vector<int> c(up.size() + 1, 0);
    for (int i = 0; i < n; ++i) {
      const uint32_t m = pick(key(i));
      ++c[m == kNone ? up.size() : m];
    }
    return c;
  }
  static uint64_t key(int i) { return hash_bytes("client-" + std::to_string(i)); }

  Balancer balancer;
  ShardState state;
  std::vector<uint8_t> up;
};

// ---- wrr ----

TEST(Wrr, SmoothSequenceFiveOneOne) {
  Shard s(channel(BalanceStrategy::kWrr, {member("a", 5), member("b", 1), member("c", 1)}));
  std::string seq;
  for (int i = 0; i < 14; ++i) {
    seq += static_cast<char>('a' + s.pick());
  }
  EXPECT_EQ(seq, "aabacaaaabacaa");
}

TEST(Wrr, EachShardAloneIsExact) {
  const auto ch = channel(BalanceStrategy::kWrr, {member("a", 2), member("b", 1)});
  Shard s0(ch, 2);
  ShardState s1 = s0.balancer.make_shard_state();
  const Health all_up{s0.up.data(), 2};
  std::string seq0;
  std::string seq1;
  for (int i = 0; i < 6; ++i) {
    seq0 += static_cast<char>('a' + s0.pick());
    seq1 += static_cast<char>('a' + s0.balancer.pick(s1, all_up, 0, {}));
  }
  EXPECT_EQ(seq0, "abaaba");
  EXPECT_EQ(seq1, "abaaba");
}

TEST(Wrr, GroupsSplitByGroupWeightThenMemberWeight) {
  Shard s(channel(BalanceStrategy::kWrr,
                  {member("a", 2, "main"), member("b", 1, "main"), member("c", 7, "dr")},
                  {{"main", 3, ""}, {"dr", 1, ""}}));
  const std::vector<int> c = s.counts(4000);
  EXPECT_NEAR(c[0] + c[1], 3000, 40);
  EXPECT_NEAR(c[2], 1000, 40);
  EXPECT_NEAR(c[0], 2000, 40);
  EXPECT_NEAR(c[1], 1000, 40);
}

TEST(Wrr, OnlyGroupsWithAnAvailableMemberTakePart) {
  Shard s(channel(BalanceStrategy::kWrr, {member("a", 1, "main"), member("b", 1, "dr")},
                  {{"main", 3, ""}, {"dr", 1, ""}}));
  s.up[0] = 0;
  EXPECT_EQ(s.counts(100)[1], 100);
}

TEST(Wrr, UngroupedMembersFormAnImplicitGroupOfWeightOne) {
  Shard s(channel(BalanceStrategy::kWrr, {member("a", 5, "main"), member("b", 100)},
                  {{"main", 3, ""}}));
  const std::vector<int> c = s.counts(400);
  EXPECT_EQ(c[0], 300);
  EXPECT_EQ(c[1], 100);
}

TEST(Wrr, EmptyShardStatePicksNothing) {
  const Balancer b = Balancer::build(channel(BalanceStrategy::kWrr, {member("a")}), 1);
  ShardState empty;
  EXPECT_EQ(b.pick(empty, {}, 0, {}), kNone);
}

// ---- candidate rules, for every strategy ----

class Rules : public testing::TestWithParam<BalanceStrategy> {};

INSTANTIATE_TEST_SUITE_P(AllStrategies, Rules,
                         testing::Values(BalanceStrategy::kWrr, BalanceStrategy::kWlc,
                                         BalanceStrategy::kSh, BalanceStrategy::kUriHash));

TEST_P(Rules, ZeroWeightMemberOrGroupNeverPicked) {
  Shard s(channel(GetParam(), {member("a", 0), member("b", 1, "zero"), member("c", 1)},
                  {{"zero", 0, ""}}));
  EXPECT_EQ(s.counts(1000)[2], 1000);
  s.up[2] = 0;
  EXPECT_EQ(s.pick(), kNone);
}

TEST_P(Rules, DisabledNeverPicked) {
  Shard s(channel(GetParam(), {disabled("a"), member("b")}));
  EXPECT_EQ(s.counts(1000)[1], 1000);
  s.up[1] = 0;
  EXPECT_EQ(s.counts(100)[2], 100);  // kNone, not the disabled member
}

TEST_P(Rules, StandbyOnlyWhilePrimariesDownAndAbandonedOnRecovery) {
  Shard s(channel(GetParam(), {member("a"), member("b"), standby("s"), disabled("d")}));
  std::vector<int> c = s.counts(1000);
  EXPECT_EQ(c[0] + c[1], 1000);
  s.up[0] = 0;
  s.up[1] = 0;
  EXPECT_EQ(s.counts(1000)[2], 1000);
  s.up[1] = 1;
  EXPECT_EQ(s.counts(1000)[1], 1000);
}

TEST_P(Rules, StandbyUsedWhenPrimariesAreDisabled) {
  Shard s(channel(GetParam(), {disabled("a"), standby("s")}));
  EXPECT_EQ(s.counts(100)[1], 100);
}

TEST_P(Rules, AllDownGivesNone) {
  Shard s(channel(GetParam(), {member("a"), member("b"), standby("s")}));
  s.up.assign(3, 0);
  EXPECT_EQ(s.counts(100)[3], 100);
}

TEST_P(Rules, TriedMembersAvoidedUntilNoneLeft) {
  Shard s(channel(GetParam(), {member("a", 3), member("b", 1), member("c", 2), standby("s")}));
  for (int i = 0; i < 50; ++i) {
    Tried tried;
    for (int attempt = 0; attempt < 3; ++attempt) {
      const uint32_t m = s.pick(Shard::key(i), tried);
      ASSERT_NE(m, kNone);
      ASSERT_LT(m, 3u);  // never the standby while primaries are up
      ASSERT_FALSE(tried.contains(m));
      tried.add(m);
    }
    EXPECT_EQ(s.pick(Shard::key(i), tried), kNone);
  }
}

// ---- wlc ----

TEST(Wlc, FewestActivePerWeightSummedOverShards) {
  Shard s(channel(BalanceStrategy::kWlc, {member("a", 2), member("b", 1)}), 2);
  const Balancer& b = s.balancer;
  b.acquire(0, 0);
  b.acquire(0, 0);
  b.acquire(1, 0);  // a: 3 active over two shards, 3/2
  b.acquire(1, 1);  // b: 1 active, 1/1
  EXPECT_EQ(b.active(0), 3u);
  EXPECT_EQ(s.pick(), 1u);
  b.acquire(0, 1);  // b: 2/1 > 3/2
  EXPECT_EQ(s.pick(), 0u);
  b.release(1, 0);
  b.release(0, 0);  // a: 1/2 < 2/1
  EXPECT_EQ(s.pick(), 0u);
  b.release(0, 0);
  b.release(1, 1);
  b.release(0, 1);
  EXPECT_EQ(b.active(0) + b.active(1), 0u);
}

TEST(Wlc, TiesBrokenByWrr) {
  Shard s(channel(BalanceStrategy::kWlc, {member("a", 5), member("b", 1), member("c", 1)}));
  std::string seq;
  for (int i = 0; i < 7; ++i) {
    seq += static_cast<char>('a' + s.pick());  // nothing acquired: all tied at 0
  }
  EXPECT_EQ(seq, "aabacaa");
}

TEST(Wlc, BusyMemberAvoidedAndTracksReleases) {
  Shard s(channel(BalanceStrategy::kWlc, {member("a"), member("b"), member("c")}), 4);
  for (int i = 0; i < 5; ++i) {
    s.balancer.acquire(static_cast<uint32_t>(i % 4), 0);
  }
  s.balancer.acquire(3, 2);
  EXPECT_EQ(s.pick(), 1u);
  s.balancer.acquire(2, 1);
  s.balancer.acquire(2, 1);
  EXPECT_EQ(s.pick(), 2u);
}

// ---- consistent hashing (sh, uri_hash) ----

class Hashing : public testing::TestWithParam<BalanceStrategy> {};

INSTANTIATE_TEST_SUITE_P(HashStrategies, Hashing,
                         testing::Values(BalanceStrategy::kSh, BalanceStrategy::kUriHash));

constexpr int kKeys = 10000;

std::vector<config::Member> ten_members() {
  std::vector<config::Member> out;
  for (int i = 1; i <= 10; ++i) {
    out.push_back(member("10.0.0." + std::to_string(i)));
  }
  return out;
}

// The host each key goes to.
std::vector<std::string> hosts_by_key(Shard& s, const config::Channel& ch) {
  std::vector<std::string> out;
  for (int i = 0; i < kKeys; ++i) {
    const uint32_t m = s.pick(Shard::key(i));
    out.push_back(m == kNone ? "" : ch.members[m].host);
  }
  return out;
}

TEST_P(Hashing, RemovingOneOfTenMovesOnlyItsKeys) {
  const auto before_ch = channel(GetParam(), ten_members());
  auto after_ch = before_ch;
  after_ch.members.erase(after_ch.members.begin() + 3);
  Shard before(before_ch);
  Shard after(after_ch);
  const auto a = hosts_by_key(before, before_ch);
  const auto b = hosts_by_key(after, after_ch);
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (a[i] != b[i]) {
      ++moved;
      EXPECT_EQ(a[i], "10.0.0.4") << "key " << i;
    }
  }
  EXPECT_LE(moved, kKeys * 12 / 100);
  EXPECT_GT(moved, 0);
}

TEST_P(Hashing, FailingAMemberMovesOnlyItsKeysAndTheyComeBack) {
  const auto ch = channel(GetParam(), ten_members());
  Shard s(ch);
  const auto healthy = hosts_by_key(s, ch);
  s.up[6] = 0;
  const auto failed = hosts_by_key(s, ch);
  std::map<std::string, int> spread;
  for (int i = 0; i < kKeys; ++i) {
    if (healthy[i] != failed[i]) {
      EXPECT_EQ(healthy[i], "10.0.0.7") << "key " << i;
      ++spread[failed[i]];
    } else {
      EXPECT_NE(healthy[i], "10.0.0.7");
    }
  }
  EXPECT_EQ(spread.size(), 9u);  // its keys spread over all the others
  s.up[6] = 1;
  EXPECT_EQ(hosts_by_key(s, ch), healthy);
}

TEST_P(Hashing, WeightsRespected) {
  Shard s(channel(GetParam(), {member("a", 3), member("b", 1)}));
  const std::vector<int> c = s.counts(kKeys);
  EXPECT_NEAR(c[0], 7500, 300);
  EXPECT_NEAR(c[1], 2500, 300);
}

TEST_P(Hashing, GroupWeightsRespected) {
  Shard s(channel(GetParam(),
                  {member("a", 1, "main"), member("b", 1, "main"), member("c", 1, "dr")},
                  {{"main", 3, ""}, {"dr", 1, ""}}));
  const std::vector<int> c = s.counts(kKeys);
  EXPECT_NEAR(c[0] + c[1], 7500, 300);
  EXPECT_NEAR(c[0], 3750, 300);
  EXPECT_NEAR(c[2], 2500, 300);
}

TEST_P(Hashing, SameKeySameMemberOnEveryShard) {
  const auto ch = channel(GetParam(), ten_members());
  Shard s0(ch, 2);
  Shard s1(ch, 2);
  for (int i = 0; i < 1000; ++i) {
    const uint32_t first = s0.pick(Shard::key(i));
    EXPECT_EQ(s0.pick(Shard::key(i)), first);
    EXPECT_EQ(s1.pick(Shard::key(i)), first);
  }
}

TEST_P(Hashing, RetryGoesToTheNextMemberOfTheKey) {
  const auto ch = channel(GetParam(), ten_members());
  Shard s(ch);
  for (int i = 0; i < 100; ++i) {
    Tried tried;
    tried.add(s.pick(Shard::key(i)));
    const uint32_t retry = s.pick(Shard::key(i), tried);
    s.up[tried.members[0]] = 0;  // the same member as if the first had failed
    EXPECT_EQ(s.pick(Shard::key(i)), retry);
    s.up[tried.members[0]] = 1;
  }
}

// ---- keys ----

TEST(Keys, SourceKeyIgnoresPortAndMapsV4InV6) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(1000);
  inet_pton(AF_INET, "192.0.2.7", &a.sin_addr);
  sockaddr_in b = a;
  b.sin_port = htons(2000);
  sockaddr_in6 mapped{};
  mapped.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:192.0.2.7", &mapped.sin6_addr);
  sockaddr_in other = a;
  inet_pton(AF_INET, "192.0.2.8", &other.sin_addr);
  const auto key = [](const auto& sa) {
    return source_key(reinterpret_cast<const sockaddr*>(&sa));
  };
  EXPECT_EQ(key(a), key(b));
  EXPECT_EQ(key(a), key(mapped));
  EXPECT_NE(key(a), key(other));
}

TEST(Keys, PathKeyIgnoresQuery) {
  EXPECT_EQ(path_key("/orders/1?x=2"), path_key("/orders/1"));
  EXPECT_EQ(path_key("/orders/1#frag"), path_key("/orders/1"));
  EXPECT_NE(path_key("/orders/1"), path_key("/orders/2"));
  EXPECT_NE(hash_bytes("abcdefgh1"), hash_bytes("abcdefgh2"));
}

}  // namespace
}  // namespace ringway::lb
