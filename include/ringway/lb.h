// Load balancing of a channel's members: which member gets the next request.
//
// A `Balancer` is built once per configuration snapshot on the control thread from a
// validated `config::Channel`, then only read by shards (shared, immutable). Each shard
// owns one `ShardState` per balancer (smooth-WRR current weights, scratch), created with
// the snapshot and mutated by that shard alone. `pick` takes no lock, never allocates,
// never throws, and scans at most a small multiple of the member count.
//
// Candidates: enabled members with weight > 0, in a group of weight > 0, healthy, not
// standby. Standby (`is_backup`) members take part only while no such primary exists.
// Traffic is split between groups by group weight (among groups with an available
// member), then inside the group by member weight (wrr, wlc) or by weighted rendezvous
// hashing of `key` (sh, uri_hash: removing or failing a member moves only its keys).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "ringway/config.h"

namespace ringway::lb {

inline constexpr uint32_t kNone = 0xffffffffu;  // no member available: answer 503
inline constexpr uint32_t kMaxTried = 11;       // first attempt + retry_count <= 10

// Health of the members, by position in config::Channel::members. A member at or beyond
// `count` is healthy (members start healthy; no health check: pass {nullptr, 0}).
struct Health {
  const uint8_t* up = nullptr;  // up[i] != 0: member i healthy
  uint32_t count = 0;
  bool healthy(uint32_t member) const noexcept { return member >= count || up[member] != 0; }
};

// Members already tried for this request; pick avoids them.
struct Tried {
  std::array<uint32_t, kMaxTried> members{};
  uint32_t count = 0;
  bool contains(uint32_t member) const noexcept {
    for (uint32_t i = 0; i < count; ++i) {
      if (members[i] == member) {
        return true;
      }
    }
    return false;
  }
  void add(uint32_t member) noexcept {  // beyond kMaxTried entries: ignored
    if (count < kMaxTried) {
      members[count++] = member;
    }
  }
};

// Keys for the hash strategies. Any thread; no allocation.
uint64_t hash_bytes(std::string_view bytes) noexcept;
// sh: the client's IP address (port ignored; an IPv4-mapped IPv6 address hashes as IPv4).
uint64_t source_key(const sockaddr* addr) noexcept;
// uri_hash: the request target's path, without query or fragment.
uint64_t path_key(std::string_view target) noexcept;

namespace detail {
struct Tables;
struct PickContext;
}  // namespace detail

// Per-shard mutable selection state for one Balancer. Thread affinity: its shard only.
class ShardState {
 public:
  ShardState() = default;  // empty: pick() returns kNone until assigned make_shard_state()

 private:
  friend class Balancer;
  friend struct detail::PickContext;
  std::vector<int64_t> group_current_;   // smooth WRR between groups
  std::vector<int64_t> member_current_;  // smooth WRR inside groups (wrr, wlc ties)
  std::vector<uint32_t> active_;         // wlc: node-wide counts read by one pick
};

class Balancer {
 public:
  // Control thread. `channel` must be validated (load_config); `shard_count` (0 = 1) sizes
  // the WLC cells. A group name not in member_groups counts as the implicit group.
  static Balancer build(const config::Channel& channel, uint32_t shard_count);

  Balancer(Balancer&&) noexcept;
  Balancer& operator=(Balancer&&) noexcept;
  ~Balancer();

  // Control thread or the owning shard, when the snapshot is first used (allocates).
  ShardState make_shard_state() const;

  // Shard: the member index for the next attempt, or kNone when every candidate is down
  // or already tried (the caller answers 503 / stops retrying). `key` is source_key (sh)
  // or path_key (uri_hash); ignored by wrr and wlc.
  uint32_t pick(ShardState& state, const Health& health, uint64_t key,
                const Tried& tried) const noexcept;

  // Shard `shard`: a request to `member` started / ended. Writes that shard's cell only
  // (relaxed load + store); pair them on the same Balancer (the request's snapshot).
  void acquire(uint32_t shard, uint32_t member) const noexcept;
  void release(uint32_t shard, uint32_t member) const noexcept;
  // Any thread: active requests to `member` summed over shards (relaxed, may lag).
  uint32_t active(uint32_t member) const noexcept;

  config::BalanceStrategy strategy() const noexcept;
  uint32_t member_count() const noexcept;

 private:
  explicit Balancer(std::unique_ptr<detail::Tables> tables);
  std::unique_ptr<detail::Tables> t_;
};

}  // namespace ringway::lb
