// The retry rules of `backend.retry_count` (seed semantics), as pure functions so each
// decision is unit-tested without sockets.
//
// -1 (default): one retry, never for POST or PATCH; 0: none; 1..10: up to N. A request
// that may have reached a backend (connection lost or timed out before the response) is
// replayed only for methods other than POST and PATCH; a connect failure proves it was
// not, so any method may go again within the budget. A pooled connection found stale
// before any response byte earns one extra attempt on a fresh connection (the request
// cannot have been processed). Never once response bytes reached the client, and never
// when the request is no longer held whole (replayable).
#pragma once

#include <cstdint>
#include <string_view>

#include "ringway/metrics.h"

namespace ringway::proxy {

enum class Failure : uint8_t {
  kConnect,      // no connection: the backend cannot have seen the request
  kLost,         // closed or reset before any response byte
  kTimeout,      // no response head within timeout_ms
  kBadResponse,  // the backend answered something unusable: never retried
};

// The ringway_backend_requests_total outcome of a failed attempt.
inline metrics::Outcome attempt_outcome(Failure f) {
  switch (f) {
    case Failure::kConnect:
      return metrics::Outcome::kConnectError;
    case Failure::kLost:
      return metrics::Outcome::kReset;
    case Failure::kTimeout:
      return metrics::Outcome::kTimeout;
    case Failure::kBadResponse:
      return metrics::Outcome::kBadResponse;
  }
  return metrics::Outcome::kBadResponse;
}

inline bool post_like(std::string_view method) { return method == "POST" || method == "PATCH"; }

// The number of retries a request starts with.
inline int32_t retry_budget(int32_t retry_count, std::string_view method) {
  if (retry_count < 0) {
    return post_like(method) ? 0 : 1;
  }
  return retry_count;
}

enum class RetryKind : uint8_t {
  kNone,             // answer the error (or close, if the response had started)
  kFreshConnection,  // same member, new connection; costs no budget (once per request)
  kNextMember,       // another member when one is available; costs one retry
};

struct RetryState {
  bool response_started = false;
  bool replayable = true;
  bool stale_pooled = false;  // the failed connection came from the pool, no byte back
  bool fresh_used = false;    // the free fresh-connection retry was already taken
  int32_t retries_left = 0;
  bool post_like = false;  // POST or PATCH
};

inline RetryKind decide_retry(const RetryState& s, Failure f) {
  if (s.response_started || !s.replayable || f == Failure::kBadResponse) {
    return RetryKind::kNone;
  }
  if (s.stale_pooled && f == Failure::kLost && !s.fresh_used) {
    return RetryKind::kFreshConnection;
  }
  bool may_replay = f == Failure::kConnect || !s.post_like;
  return s.retries_left > 0 && may_replay ? RetryKind::kNextMember : RetryKind::kNone;
}

}  // namespace ringway::proxy
