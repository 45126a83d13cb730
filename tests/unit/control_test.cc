// The control loop's pure parts (src/control/loop_ops.h): its user_data codec, which must
// leave the health checker's encoding intact, and when it wakes up.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "control/loop_ops.h"
#include "control/snapshot.h"
#include "control/watchdog.h"
#include "ringway/clock.h"
#include "ringway/health.h"

namespace ringway::control {
namespace {

TEST(LoopOps, CodecRoundTripsOpAndPayload) {
  constexpr uint64_t payload = 0x00ab'cdef'0123'4567;
  for (Op op : {Op::kIgnore, Op::kSignal, Op::kShardExit, Op::kHealth, Op::kAdmin}) {
    const uint64_t ud = encode(op, payload);
    EXPECT_EQ(op_of(ud), op);
    EXPECT_EQ(payload_of(ud), payload);
  }
  EXPECT_EQ(encode(Op::kSignal), encode(Op::kSignal, 0));
  // A payload never reaches the op byte.
  EXPECT_EQ(op_of(encode(Op::kSignal, ~uint64_t{0})), Op::kSignal);
}

// The checker is handed encode(Op::kHealth) as its tag: only top-byte bits, so every
// user_data it makes (tag | address | low bit) decodes as kHealth and keeps its payload.
TEST(LoopOps, HealthTagIsATopByteTagForTheChecker) {
  const uint64_t tag = encode(Op::kHealth);
  EXPECT_EQ(tag & ~health::Checker::kTagMask, 0u);
  const uint64_t checker_ud = tag | 0x0000'7fff'1234'5671;  // a slot address, kAux bit
  EXPECT_EQ(op_of(checker_ud), Op::kHealth);
  EXPECT_EQ(payload_of(checker_ud), 0x0000'7fff'1234'5671u);
  EXPECT_NE(op_of(encode(Op::kSignal)), Op::kHealth);
}

TEST(LoopOps, WaitIsUntilTheEarliestDeadline) {
  EXPECT_EQ(wait_ms(1000, {}), kNever);
  EXPECT_EQ(wait_ms(1000, {kNever, kNever}), kNever);  // nothing due: completions only
  EXPECT_EQ(wait_ms(1000, {1250, kNever, 1100}), 100u);
  EXPECT_EQ(wait_ms(1000, {1000}), 0u);
  EXPECT_EQ(wait_ms(1000, {900, 5000}), 0u);  // already passed
}

TEST(LoopOps, ReclaimRetriesOnlyWhileSnapshotsWait) {
  EXPECT_EQ(next_reclaim(5000, 0), kNever);  // idle: no timer at all
  EXPECT_EQ(next_reclaim(5000, 2), 5000 + kReclaimRetryMs);
  EXPECT_LE(kReclaimRetryMs, 100u);  // as often as the loop reclaimed before
}

// ---- systemd watchdog (control/watchdog.h) ----

TEST(Watchdog, IntervalIsHalfOfWatchdogUsec) {
  EXPECT_EQ(Watchdog::from_env("10000000", nullptr, 42).interval_ms(), 5000u);  // 10 s
  EXPECT_EQ(Watchdog::from_env("200000", nullptr, 42).interval_ms(), 100u);
  EXPECT_EQ(Watchdog::from_env("1000", nullptr, 42).interval_ms(), 1u);  // at least 1 ms
  EXPECT_TRUE(Watchdog::from_env("200000", "", 42).enabled());           // empty pid: unset
  for (const char* bad : {static_cast<const char*>(nullptr), "", "0", "-5", "12x", " 9", "abc"}) {
    const Watchdog w = Watchdog::from_env(bad, nullptr, 42);
    EXPECT_FALSE(w.enabled()) << (bad == nullptr ? "(unset)" : bad);
    EXPECT_EQ(w.next_due(), kNever);
  }
}

TEST(Watchdog, PidOfAnotherProcessDisablesIt) {
  EXPECT_TRUE(Watchdog::from_env("200000", "42", 42).enabled());
  EXPECT_FALSE(Watchdog::from_env("200000", "41", 42).enabled());
  EXPECT_FALSE(Watchdog::from_env("200000", "42x", 42).enabled());
  Watchdog w = Watchdog::from_env("200000", "7", 42);
  ManualClock clock;
  const std::vector<uint64_t> turns = {1, 1};
  w.start(clock.now_ms(), turns);
  EXPECT_EQ(w.next_due(), kNever);
  clock.advance(1000);
  EXPECT_FALSE(w.tick(clock.now_ms(), std::vector<uint64_t>{9, 9}));
}

TEST(Watchdog, PingsWhenEveryShardTurned) {
  ManualClock clock;
  Watchdog w = Watchdog::from_env("200000", nullptr, 42);
  std::vector<uint64_t> turns = {5, 7, 1};
  w.start(clock.now_ms(), turns);
  EXPECT_EQ(w.next_due(), clock.now_ms() + 100);
  turns = {6, 9, 2};
  clock.advance(99);
  EXPECT_FALSE(w.tick(clock.now_ms(), turns));  // not due yet: nothing changes
  EXPECT_EQ(w.next_due(), clock.now_ms() + 1);
  clock.advance(1);
  EXPECT_TRUE(w.tick(clock.now_ms(), turns));
  EXPECT_EQ(w.next_due(), clock.now_ms() + 100);
  // Each tick compares with the previous one: the same counts again do not ping.
  clock.advance(100);
  EXPECT_FALSE(w.tick(clock.now_ms(), turns));
  turns = {7, 10, 3};
  clock.advance(130);  // a late tick still compares with the previous one
  EXPECT_TRUE(w.tick(clock.now_ms(), turns));
  EXPECT_EQ(w.next_due(), clock.now_ms() + 100);
}

TEST(Watchdog, NoPingWhileOneShardIsStuck) {
  ManualClock clock;
  Watchdog w = Watchdog::from_env("200000", nullptr, 42);
  w.start(clock.now_ms(), std::vector<uint64_t>{0, 0});
  std::vector<uint64_t> turns = {0, 0};
  for (int i = 1; i <= 5; ++i) {  // shard 1 stuck at turn 3
    turns[0] += 10;
    turns[1] = std::min<uint64_t>(i, 3);
    clock.advance(100);
    EXPECT_EQ(w.tick(clock.now_ms(), turns), i <= 3) << "tick " << i;
  }
  turns = {100, 4};  // it turns again: pings resume
  clock.advance(100);
  EXPECT_TRUE(w.tick(clock.now_ms(), turns));
  // A shard count that differs from the one at start never pings.
  clock.advance(100);
  EXPECT_FALSE(w.tick(clock.now_ms(), std::vector<uint64_t>{200}));
}

TEST(Watchdog, ReadsTheShardsLoopTurnCells) {
  core::ShardCells<uint64_t> cells(3, 1);
  cells.set(0, 0, 4);
  cells.set(2, 0, 9);
  std::vector<uint64_t> out = {1, 2, 3, 4, 5};
  read_turns(cells, out);
  EXPECT_EQ(out, (std::vector<uint64_t>{4, 0, 9}));
}

// ---- circuit-breaker guards (control/guards.h through compile()) ----

// Two APIs bound to policy "cb" (content `content`) in RELEASE, and an unbound third.
std::string guarded_config(const std::string& content) {
  return R"({"version": 1, "instance": {"id": "gw"},
    "apis": [
      {"name": "a", "req_method": "GET", "req_uri": "/a",
       "backend": {"url": "127.0.0.1:9", "req_uri": "/"}},
      {"name": "b", "req_method": "GET", "req_uri": "/b",
       "backend": {"url": "127.0.0.1:9", "req_uri": "/"}},
      {"name": "c", "req_method": "GET", "req_uri": "/c",
       "backend": {"url": "127.0.0.1:9", "req_uri": "/"}}],
    "policies": [{"name": "cb", "type": "circuit_breaker", "content": )" +
         content + R"(}],
    "bindings": [{"policy": "cb", "api": "a", "environment": "RELEASE"},
                 {"policy": "cb", "api": "b", "environment": "RELEASE"}]})";
}

std::string breaker_content(std::string_view scope, std::string_view rules = "") {
  std::string c = R"({"breaker_condition": {"breaker_type": "timeout", "breaker_mode": "counter",
      "unhealthy_threshold": 2, "time_window": 10, "open_breaker_time": 10}, "scope": ")";
  c += scope;
  c += R"(", "downgrade_default": {"type": "mock", "mock_info": {"status_code": 299,
      "result_content": "{}", "headers": [{"key": "x-a", "value": "1"}]}})";
  if (!rules.empty()) {
    c += R"(, "downgrade_parameters": [{"name": "reqPath", "type": "path", "value": "path"},
        {"name": "method", "type": "method", "value": "method"}], "downgrade_rules": )";
    c += rules;
  }
  return c + "}";
}

std::shared_ptr<const proxy::Compiled> compiled(const std::string& json,
                                                const proxy::Compiled* previous = nullptr) {
  config::LoadResult r = config::load_config(json);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
  if (!r.ok()) {
    return nullptr;
  }
  std::vector<config::Error> errors;
  auto c = compile(std::move(*r.config), 2, &errors, previous);
  EXPECT_TRUE(errors.empty()) << errors[0].str();
  return c;
}

TEST(Guards, BasicScopeGivesEachApiItsBreakerAndShareOneForAll) {
  auto basic = compiled(guarded_config(breaker_content("basic")));
  ASSERT_NE(basic, nullptr);
  const proxy::Guard* a = basic->guards.find(0, 0);
  const proxy::Guard* b = basic->guards.find(1, 0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(basic->guards.find(2, 0), nullptr);  // api c is not bound
  EXPECT_EQ(a->api, "a");
  ASSERT_EQ(a->rules.size(), 1u);
  EXPECT_NE(a->rules[0].breaker, b->rules[0].breaker);
  auto share = compiled(guarded_config(breaker_content("share")));
  ASSERT_NE(share, nullptr);
  EXPECT_EQ(share->guards.find(0, 0)->rules[0].breaker, share->guards.find(1, 0)->rules[0].breaker);
}

TEST(Guards, MockDowngradeCarriesItsHeaderAndJsonType) {
  auto c = compiled(guarded_config(breaker_content("basic")));
  ASSERT_NE(c, nullptr);
  const proxy::CompiledDowngrade& d = c->guards.find(0, 0)->rules[0].downgrade;
  EXPECT_EQ(d.kind, proxy::DowngradeKind::kMock);
  EXPECT_EQ(d.label, "cb/default");
  EXPECT_EQ(d.backend.mock_head,
            "HTTP/1.1 299 \r\nx-a: 1\r\ncontent-type: application/json\r\n"
            "x-ringway-downgrade: cb/default\r\ncontent-length: 2\r\n");
}

TEST(Guards, RulesMatchTopToBottomThenTheDefault) {
  std::string rules = R"([
      {"rule_name": "one", "match_regex": "[\"reqPath\",\"==\",\"/a\"]"},
      {"rule_name": "two", "match_regex": ["OR", ["reqPath", "==", "/a"], ["method", "==", "PUT"]],
       "downgrade_backend": null,
       "breaker_condition": {"breaker_type": "timeout", "breaker_mode": "percentage",
         "time_window": 5, "open_breaker_time": 7, "unhealthy_percentage": 50,
         "min_call_threshold": 4}}])";
  auto c = compiled(guarded_config(breaker_content("basic", rules)));
  ASSERT_NE(c, nullptr);
  const proxy::Guard& g = *c->guards.find(0, 0);
  ASSERT_EQ(g.rules.size(), 3u);
  EXPECT_EQ(g.used_params, 3u);
  std::string_view a[] = {"/a", "PUT"}, put[] = {"/x", "PUT"}, other[] = {"/x", "GET"};
  EXPECT_EQ(g.pick(a).name, "one");  // the first match wins, though "two" matches too
  EXPECT_EQ(g.pick(put).name, "two");
  EXPECT_EQ(g.pick(other).name, "default");
  // A rule without trigger or backend takes the default's; each rule has its own counts.
  EXPECT_EQ(g.rules[0].breaker->trigger().unhealthy_threshold, 2u);
  EXPECT_EQ(g.rules[0].downgrade.kind, proxy::DowngradeKind::kMock);
  EXPECT_EQ(g.rules[0].downgrade.label, "cb/one");
  EXPECT_EQ(g.rules[1].breaker->trigger().mode, breaker::Mode::kPercentage);
  EXPECT_EQ(g.rules[1].open_s, 7u);
  EXPECT_EQ(g.rules[1].downgrade.kind, proxy::DowngradeKind::kMock);  // null: the default's
  EXPECT_NE(g.rules[0].breaker, g.rules[2].breaker);
}

TEST(Guards, ReloadKeepsTheBreakersOfAnUnchangedPolicyOnly) {
  auto first = compiled(guarded_config(breaker_content("basic")));
  ASSERT_NE(first, nullptr);
  auto same = compiled(guarded_config(breaker_content("basic")), first.get());
  ASSERT_NE(same, nullptr);
  EXPECT_EQ(same->guards.find(0, 0)->rules[0].breaker, first->guards.find(0, 0)->rules[0].breaker);
  EXPECT_EQ(same->guards.find(1, 0)->rules[0].breaker, first->guards.find(1, 0)->rules[0].breaker);
  auto changed = compiled(guarded_config(breaker_content("share")), same.get());
  ASSERT_NE(changed, nullptr);
  EXPECT_NE(changed->guards.find(0, 0)->rules[0].breaker,
            same->guards.find(0, 0)->rules[0].breaker);
}
}  // namespace
}  // namespace ringway::control
