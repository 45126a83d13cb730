// Forwarder: the mock downgrade (guard.h DowngradeKind::kMock): the policy's configured
// response, pre-rendered with its x-ringway-downgrade header; the backend is not reached.
#include "proxy/shard.h"

namespace ringway::proxy {

void Forwarder::downgrade_mock(ClientConn& c, const CompiledDowngrade& d) {
  if (client_.client_defer_local(c, &d.backend)) {
    return;  // a signed body is verified first
  }
  client_.client_answer_locally(c);
  client_.client_local_reply(c, d.backend);
}

}  // namespace ringway::proxy
