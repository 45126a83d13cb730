// Forwarder: the function downgrade (guard.h DowngradeKind::kFunctionSync / kFunctionAsync).
// func_info.function_urn is an http URL: the request (method, headers, body, query) goes
// there once within func_info.timeout.
//   sync:  the function's answer is relayed (as an http downgrade);
//   async: the client gets 202 at once (forward_start queues it with the
//          x-ringway-downgrade header, after a 100 Continue if one is due); the call still
//          goes out, and when its answer head arrives or it fails the exchange just ends
//          (fire_done): the function's answer is discarded, its connection closed.
#include "proxy/shard.h"

namespace ringway::proxy {

void Forwarder::downgrade_function(ClientConn& c, const route::MatchResult& m,
                                   const CompiledDowngrade& d) {
  c.x.fire_and_forget = d.kind == DowngradeKind::kFunctionAsync;
  c.state = ClientState::kForward;
  forward_start(c, m, d.backend);
}

// The 202 of an async function call: {"status":"accepted","request_id":"..."}.
void Forwarder::queue_accepted(ClientConn& c) {
  k_.pool_.get(c.out, c.x.snap->c().head_buf_size);
  Writer w(c.out.data + c.out.tail, c.out.room());
  std::string_view rid = c.x.rid();
  constexpr std::string_view kOpen = "{\"status\":\"accepted\",\"request_id\":\"";
  constexpr std::string_view kClose = "\"}";
  w.put("HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n");
  w.put(c.x.downgrade->response_header);
  w.put("x-request-id: ");
  w.put(rid);
  w.put("\r\ncontent-length: ");
  w.put_uint(kOpen.size() + rid.size() + kClose.size());
  w.put(c.keep_alive ? "\r\n\r\n" : "\r\nconnection: close\r\n\r\n");
  if (!c.x.head_request) {
    w.put(kOpen);
    w.put(rid);
    w.put(kClose);
  }
  if (w.ok()) {
    c.out.tail += static_cast<uint32_t>(w.size());
  }
  c.x.trace.status = 202;
  c.resp_started = true;  // no retry, and a failure of the call is no longer the client's
  client_.client_send(c);
}

}  // namespace ringway::proxy
