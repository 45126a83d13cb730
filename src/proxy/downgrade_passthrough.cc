// Forwarder: the passthrough downgrade (guard.h DowngradeKind::kPassthrough): the request
// goes to the API's own backend as usual, with the policy's passthrough_infos headers added
// (attempt_extra), and the answer carries the x-ringway-downgrade header. It counts in no
// breaker, so the breaker closes after open_breaker_time whatever the backend does.
#include "proxy/shard.h"

namespace ringway::proxy {

void Forwarder::downgrade_passthrough(ClientConn& c, const route::MatchResult& m,
                                      const CompiledDowngrade& d) {
  (void)d;
  if (m.api->backend.type != config::BackendType::kHttp) {
    if (client_.client_defer_local(c, &m.api->backend)) {
      return;  // a signed body is verified first
    }
    client_.client_answer_locally(c);  // a mock API: its own answer
    client_.client_local_reply(c, m.api->backend);
    return;
  }
  c.state = ClientState::kForward;
  forward_start(c, m, m.api->backend);
}

}  // namespace ringway::proxy
