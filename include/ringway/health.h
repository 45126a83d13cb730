// Active health checks (issue 5, "Health checks"; CONFIG.md channels[].health_check).
//
// The control thread turns the configuration into `Target`s (`targets_for`) and hands them
// to a `Checker`, which runs tcp/http checks as io_uring operations and keeps one
// `MemberState` per target. The control loop (src/control/control_loop.h) runs the checker
// on the loop's own ring: it starts what is due (`start_due`), sleeps until the next check
// is due (`next_due`) or a completion arrives, and hands the checker its completions
// (`on_completion`); when one reports a change, it publishes `up()` to the shards as an
// immutable snapshot. Tests and tools can instead give the checker a ring of its own and
// drive it with `run_for()`, which is built from the same pieces. Shards never touch
// anything declared here.
//
// Thread affinity: control thread only, for every type and function in this header.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringway/clock.h"
#include "ringway/config.h"

namespace ringway::core {
class Ring;
class BufPool;
}  // namespace ringway::core

namespace ringway::tls {
class ClientContext;
}

namespace ringway::health {

enum class Protocol : uint8_t { kTcp, kHttp, kHttps };
enum class HttpMethod : uint8_t { kGet, kHead };

// One member to check. Two targets with equal `key` are the same check: a reload keeps the
// state of every target whose key is unchanged (see identity_key()).
struct Target {
  std::string key;
  sockaddr_storage addr{};  // member address with the check port
  socklen_t addr_len = 0;
  Protocol protocol = Protocol::kTcp;
  HttpMethod method = HttpMethod::kGet;
  std::string path = "/";
  std::string host;  // Host header value (http)
  uint32_t timeout_ms = 5000;
  uint32_t interval_ms = 10000;
  uint32_t healthy_threshold = 2;
  uint32_t unhealthy_threshold = 5;
  std::vector<std::pair<uint16_t, uint16_t>> codes{{200, 200}};  // accepted, inclusive
  std::string label;  // for logs: "channel orders member 127.0.0.1:9001"
  // https: the client context (client_ssl, else the system store) and the name sent as SNI
  // and verified (the member's host).
  std::shared_ptr<const tls::ClientContext> tls;
  std::string tls_name;
  std::string tls_files;  // client_ssl's paths, part of the identity
};

// The identity of a target: channel name, resolved address and every check setting.
std::string identity_key(std::string_view channel, const Target& t);

// The consecutive-result state machine of one member. Members start healthy; an up member
// goes down after `unhealthy_threshold` consecutive failures, a down member comes up after
// `healthy_threshold` consecutive successes (a threshold of 0 counts as 1). No I/O, no time.
class MemberState {
 public:
  MemberState(uint32_t healthy_threshold, uint32_t unhealthy_threshold);

  // Records one check result; returns true when up() changed.
  bool record(bool success);
  bool up() const { return up_; }
  uint32_t successes() const { return successes_; }  // consecutive, current streak
  uint32_t failures() const { return failures_; }    // consecutive, current streak

 private:
  uint32_t healthy_threshold_;
  uint32_t unhealthy_threshold_;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
  bool up_ = true;
};

// Runs the checks of a target set as io_uring operations. Construct, drive and destroy it
// on the thread that submits to its ring (the ring is single-issuer). At most one check per
// target is in flight; a check's socket is closed once all its completions are in; the
// destructor cancels every pending operation, waits for it and closes every socket.
class Checker {
 public:
  // The top byte of a user_data: the bits a shared ring's owner uses to route completions.
  static constexpr uint64_t kTagMask = uint64_t{0xff} << 56;

  // A checker with an io_uring of its own, driven by run_for(). `clock` must outlive the
  // checker. Throws std::runtime_error if the ring cannot be set up (start-up only).
  explicit Checker(const Clock& clock);
  // A checker that queues its operations on `ring`, owned and driven by the caller: every
  // user_data it queues is `tag | x` with x < 2^56 (`tag` has only top-byte bits, see
  // kTagMask), and the owner passes each completion whose top byte is `tag` to
  // on_completion(). `clock` and `ring` must outlive the checker; the destructor waits on
  // `ring` for the checker's own completions and drops any other it reaps meanwhile, so
  // destroy it once nothing else on the ring needs its completions.
  Checker(const Clock& clock, core::Ring& ring, uint64_t tag);
  ~Checker();
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  // Replaces the target set. Targets whose key was already present keep their state and
  // counters (and an in-flight check); new ones start healthy and are checked at once.
  // Checks of removed targets are cancelled. Always bumps version().
  void set_targets(std::vector<Target> targets);

  // Starts the checks whose interval elapsed, waits up to `max_ms` (by the clock) for
  // completions and processes them. Returns early, with true, as soon as a target's up/down
  // state changed; also returns when a wait timed out without the clock moving (ManualClock).
  bool run_for(uint64_t max_ms);

  // The loop's pieces (run_for() is built from them). Each bool result says whether a
  // target's up/down state changed.
  //
  // Starts the checks due at `now` (clock ms) and queues their first operation (not
  // submitted: the owner's next submit does that).
  bool start_due(uint64_t now);
  // When the next check is due to start (>= now), or UINT64_MAX when every target has one
  // in flight or there is none: in-flight checks end by a completion (each operation is
  // linked to a timeout), so the owner only needs a timer for the next start.
  uint64_t next_due(uint64_t now) const;
  // Processes one of the checker's completions (user_data carries the checker's tag).
  bool on_completion(uint64_t user_data, int res);

  // One byte per target in set_targets() order: 1 = healthy.
  const std::vector<uint8_t>& up() const { return up_; }
  // Bumped on every state change and every set_targets().
  uint64_t version() const { return version_; }
  const MemberState& state(size_t i) const;
  // Checks completed (with any result) for target i since it was added.
  uint64_t checks(size_t i) const;
  // The reason of target i's last failed check ("timeout", "refused", "status 503", ...).
  const std::string& last_failure(size_t i) const;
  // Whether target i's last check passed (true before its first check).
  bool last_ok(size_t i) const;
  // When target i's up/down state last changed, or it was added (clock ms).
  uint64_t since(size_t i) const;
  // Targets with a check in flight, including removed ones still draining.
  size_t in_flight() const;

 private:
  struct Slot;
  // The bool results say whether a target's up/down state changed.
  bool start(Slot& s, uint64_t now);
  bool submit_op(Slot& s, uint64_t now);
  bool advance(Slot& s, int res);
  bool tls_progress(Slot& s, uint64_t now);
  bool tls_received(Slot& s, int res, uint64_t now);
  bool judge_status(Slot& s, bool* changed);
  bool finish(Slot& s, bool ok, const std::string& reason);
  void retire(std::unique_ptr<Slot> s);
  void release_if_drained(Slot& s);
  size_t reap(bool* changed);
  uint64_t encode(const Slot* s, bool aux) const;

  const Clock& clock_;
  std::unique_ptr<core::Ring> own_ring_;  // standalone checker only
  core::Ring* ring_;                      // own_ring_ or the owner's
  uint64_t tag_ = 0;
  std::unique_ptr<core::BufPool> pool_;          // https checks' TLS buffers (before slots_)
  std::vector<std::unique_ptr<Slot>> slots_;     // in target order
  std::vector<std::unique_ptr<Slot>> retiring_;  // removed, completions outstanding
  std::vector<uint8_t> up_;
  std::vector<std::pair<uint64_t, int>> cqes_;  // reused batch of (user_data, res)
  uint64_t version_ = 0;
};

// Where a channel member's health comes from, per `TargetSet::members`.
inline constexpr uint32_t kNotChecked = UINT32_MAX;      // always healthy
inline constexpr uint32_t kUnresolved = UINT32_MAX - 1;  // host did not resolve: always down

struct TargetSet {
  std::vector<Target> targets;
  // members[c][m]: target index of channel c's member m, kNotChecked or kUnresolved.
  std::vector<std::vector<uint32_t>> members;
  std::vector<config::Error> errors;  // resolution failures, with their JSON path
};

// Builds the targets of a configuration: channel order, then member order, enabled members
// of channels with a health_check only (disabled members and members of channels without a
// check are kNotChecked). Hosts are resolved with getaddrinfo (blocking); the first address
// returned is used. Deterministic for a given configuration and resolver answer.
TargetSet targets_for(const config::Config& cfg);

}  // namespace ringway::health
