// Balancer: tables built from a channel (control thread), and the pick (shards): tier
// (primaries, else standbys), group, then the member by the channel's algorithm — a
// switch, no indirect call.
#include <cassert>
#include <string>
#include <unordered_map>

#include "lb/lb_impl.h"

namespace ringway::lb {

using config::BalanceStrategy;
using detail::GroupInfo;
using detail::MemberInfo;
using detail::PickContext;
using detail::Tables;

namespace {

// Groups: the configured ones in order, then the implicit group (weight 1) when some
// member names none. Returns each member's group index.
std::vector<uint32_t> build_groups(const config::Channel& ch, Tables& t) {
  std::unordered_map<std::string, uint32_t> by_name;
  for (const config::MemberGroup& g : ch.member_groups) {
    by_name.emplace(g.name, static_cast<uint32_t>(t.groups.size()));
    GroupInfo info;
    info.weight = g.weight;
    info.seed = hash_bytes("group\n" + g.name);
    t.groups.push_back(info);
  }
  const uint32_t implicit = static_cast<uint32_t>(t.groups.size());
  std::vector<uint32_t> member_group;
  for (const config::Member& m : ch.members) {
    const auto it = m.group.empty() ? by_name.end() : by_name.find(m.group);
    member_group.push_back(it == by_name.end() ? implicit : it->second);
  }
  for (uint32_t g : member_group) {
    if (g == implicit) {
      GroupInfo info;
      info.weight = 1;
      info.seed = hash_bytes("group\n");
      t.groups.push_back(info);
      break;
    }
  }
  for (GroupInfo& g : t.groups) {
    g.inv_weight = g.weight > 0 ? 1.0 / g.weight : 0;
    t.groups_uniform = t.groups_uniform && g.weight == t.groups.front().weight;
  }
  return member_group;
}

// Members: identity seeds ("host:port", the n-th repeat of an address told apart), and
// the per-group member order.
void build_members(const config::Channel& ch, const std::vector<uint32_t>& member_group,
                   Tables& t) {
  std::unordered_map<std::string, uint32_t> seen;
  for (size_t i = 0; i < ch.members.size(); ++i) {
    const config::Member& m = ch.members[i];
    const uint16_t port = m.port != 0 ? m.port : ch.port;
    std::string id = "member\n" + m.host + ":" + std::to_string(port);
    const uint32_t repeat = seen[id]++;
    if (repeat > 0) {
      id += "#" + std::to_string(repeat);
    }
    MemberInfo mi;
    mi.seed = hash_bytes(id);
    mi.weight = m.weight;
    mi.inv_weight = m.weight > 0 ? 1.0 / m.weight : 0;
    mi.group = member_group[i];
    mi.is_backup = m.is_backup;
    mi.usable = m.enabled && m.weight > 0 && t.groups[mi.group].weight > 0;
    t.has_standby = t.has_standby || (mi.usable && mi.is_backup);
    t.members.push_back(mi);
  }
  for (uint32_t g = 0; g < t.groups.size(); ++g) {
    GroupInfo& gi = t.groups[g];
    gi.first = static_cast<uint32_t>(t.order.size());
    uint32_t weight = 0;
    for (uint32_t m = 0; m < t.members.size(); ++m) {
      const MemberInfo& mi = t.members[m];
      if (mi.group != g) {
        continue;
      }
      t.order.push_back(m);
      if (mi.usable) {
        gi.uniform = gi.uniform && (weight == 0 || mi.weight == weight);
        weight = mi.weight;
      }
    }
    gi.count = static_cast<uint32_t>(t.order.size()) - gi.first;
    t.group_ids.push_back(g);
  }
}

// True when some usable primary is healthy: standbys stay idle.
bool primary_available(const Tables& t, const Health& health) noexcept {
  for (uint32_t m = 0; m < t.members.size(); ++m) {
    const MemberInfo& mi = t.members[m];
    if (mi.usable && !mi.is_backup && health.healthy(m)) {
      return true;
    }
  }
  return false;
}

bool group_available(const PickContext& ctx, uint32_t group) noexcept {
  for (uint32_t m : ctx.members_of(group)) {
    if (ctx.eligible(m)) {
      return true;
    }
  }
  return false;
}

// The group for this pick: by smooth WRR on group weights, or by rendezvous on the key for
// the hash strategies (so a key keeps its group); only groups with an eligible member.
// A lone group is returned unchecked: every algorithm answers kNone itself, with no state
// change, when none of its members is eligible.
uint32_t choose_group(const PickContext& ctx) noexcept {
  const Tables& t = ctx.t;
  if (t.groups.size() == 1) {
    return 0;
  }
  const auto ok = [&ctx](uint32_t g) { return group_available(ctx, g); };
  if (t.strategy == BalanceStrategy::kSh || t.strategy == BalanceStrategy::kUriHash) {
    return detail::rendezvous(
        t.group_ids, ctx.key, t.groups_uniform, [&t](uint32_t g) { return t.groups[g].seed; },
        [&t](uint32_t g) { return t.groups[g].inv_weight; }, ok);
  }
  return detail::smooth_wrr(
      t.group_ids, ctx.group_current(), [&t](uint32_t g) { return t.groups[g].weight; }, ok);
}

}  // namespace

Balancer Balancer::build(const config::Channel& channel, uint32_t shard_count) {
  auto t = std::make_unique<Tables>();
  t->strategy = channel.balance_strategy;
  build_members(channel, build_groups(channel, *t), *t);
  t->shard_count = shard_count > 0 ? shard_count : 1;
  t->active = core::ShardCells<uint32_t>(t->shard_count, static_cast<uint32_t>(t->members.size()));
  return Balancer(std::move(t));
}

Balancer::Balancer(std::unique_ptr<Tables> tables) : t_(std::move(tables)) {}
Balancer::Balancer(Balancer&&) noexcept = default;
Balancer& Balancer::operator=(Balancer&&) noexcept = default;
Balancer::~Balancer() = default;

ShardState Balancer::make_shard_state() const {
  ShardState s;
  s.group_current_.assign(t_->groups.size(), 0);
  s.member_current_.assign(t_->members.size(), 0);
  s.active_.assign(t_->members.size(), 0);
  return s;
}

uint32_t Balancer::pick(ShardState& state, const Health& health, uint64_t key,
                        const Tried& tried) const noexcept {
  const Tables& t = *t_;
  if (state.member_current_.size() != t.members.size() ||
      state.group_current_.size() != t.groups.size()) {
    return kNone;  // empty state, or one made for a channel of another shape
  }
  // Without standbys the tier is always the primaries: when none is available, no member
  // is eligible, so choose_group or the algorithm answers kNone and no smooth-WRR weight moves.
  const bool standby = t.has_standby && !primary_available(t, health);
  const PickContext ctx{t, state, health, tried, key, standby};
  const uint32_t group = choose_group(ctx);
  if (group == kNone) {
    return kNone;
  }
  const std::span<const uint32_t> members = ctx.members_of(group);
  switch (t.strategy) {
    case BalanceStrategy::kWrr:
      return detail::wrr_pick(ctx, members);
    case BalanceStrategy::kWlc:
      return detail::wlc_pick(ctx, members);
    case BalanceStrategy::kSh:
      return detail::sh_pick(ctx, members);
    case BalanceStrategy::kUriHash:
      return detail::uri_hash_pick(ctx, members);
  }
  return kNone;
}

void Balancer::acquire(uint32_t shard, uint32_t member) const noexcept {
  if (shard >= t_->shard_count || member >= t_->members.size()) {
    assert(false && "acquire: shard or member out of range");
    return;
  }
  t_->active.add(shard, member, 1);
}

void Balancer::release(uint32_t shard, uint32_t member) const noexcept {
  if (shard >= t_->shard_count || member >= t_->members.size()) {
    assert(false && "release: shard or member out of range");
    return;
  }
  const uint32_t n = t_->active.at(shard, member).load(std::memory_order_relaxed);
  assert(n > 0 && "release without acquire");
  if (n > 0) {
    t_->active.set(shard, member, n - 1);
  }
}

uint32_t Balancer::active(uint32_t member) const noexcept {
  if (member >= t_->members.size()) {
    return 0;
  }
  return t_->active.sum(member);
}

config::BalanceStrategy Balancer::strategy() const noexcept { return t_->strategy; }

uint32_t Balancer::member_count() const noexcept {
  return static_cast<uint32_t>(t_->members.size());
}

}  // namespace ringway::lb
