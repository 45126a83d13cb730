// App authentication on a shard (auth_type "app", ringway/auth.h): what an exchange keeps
// while a signed body is held until it is whole and verified.
//
// Contract: nothing of a request with a signed body reaches the backend before its
// signature and its body hash were checked. The head is verified as far as it can be when it
// arrives (PendingVerify::begin: the head's views die when the body is read); the body is
// hashed as it arrives and kept in the exchange's up_out behind the backend head; at its end
// PendingVerify::finish decides, and only then is the request sent. A body sent with
// X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD (or none at all) is verified at the head and streamed.
//
// Thread affinity: shard-local (a shard pools its AuthHolds).
#pragma once

#include <cstdint>

#include "ringway/auth.h"

namespace ringway::proxy {

struct AppCredential;

// Bytes a shard may hold in signed bodies at once (back-pressure: a request that would go
// over is answered 503 instead of growing memory without bound).
inline constexpr uint64_t kMaxHeldBodyBytes = 256ull << 20;

struct AuthHold {
  auth::PendingVerify verify;
  auth::Sha256 body;                   // of the body bytes as the client sent them
  const AppCredential* app = nullptr;  // its secret finishes the verification
  char claimed[64] = {};               // X-Sdk-Content-Sha256, when the client sent a hash
  bool has_claimed = false;
  uint64_t held = 0;  // bytes of up_out this hold counts against kMaxHeldBodyBytes
};

}  // namespace ringway::proxy
