// Forwarder: the http downgrade (guard.h DowngradeKind::kHttp): the request goes to the
// policy's backend (an address or a channel) at its path, with the request's query, method
// (unless the policy sets one), headers and body, tried once within its timeout. The
// answer is relayed with the x-ringway-downgrade header; it counts in no breaker.
#include "proxy/shard.h"

namespace ringway::proxy {

void Forwarder::downgrade_http(ClientConn& c, const route::MatchResult& m,
                               const CompiledDowngrade& d) {
  c.state = ClientState::kForward;
  forward_start(c, m, d.backend);
}

}  // namespace ringway::proxy
