// Responses relayed from the backend's receive buffer. The first receive of a response
// usually holds its whole head and the start of its body, or all of it (kUpRecvBufSize).
// When the body needs no re-framing, the client's head is written in front of the body
// bytes in that buffer (over the backend's head and into the headroom) and the client's
// send reads the buffer itself: the response is not copied, and the one receive took what
// the backend had sent, so its window opens at once.
//
// Contract: a lead buffer is held by one client (ClientConn::lead) until its bytes were
// sent or the client is freed, then goes back to up_bufs_; at most kMaxLeads are held, so
// clients that stop reading cannot starve the backend receives. Plain streams only
// (transport::zero_copy): the client's send reads the backend's receive buffer.
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "proxy/shard.h"

namespace ringway::proxy {

// Takes a receive's bytes (buffer `bid` of up_bufs_) as the start of the response when
// they hold its whole head. False, with nothing changed, when they do not (or this is not
// the response's first receive): the caller copies them into u.in.
bool Upstreams::upstream_lead(ClientConn& c, UpstreamConn& u, uint16_t bid, int res) {
  if (!transport::zero_copy(c.io, u.io) || c.x.upgrade || u.got_bytes || !u.in.empty() ||
      c.resp_started || c.lead != nullptr || c.send_armed || c.unsent() > 0 || c.out_pinned ||
      k_.leads_held_ >= kMaxLeads) {
    return false;
  }
  if (c.resp_parser == nullptr) {
    c.resp_parser = k_.take_resp_parser(c);
  }
  c.resp_parser->reset(c.x.head_request);
  char* b = k_.up_bufs_.buf(bid);
  http::FeedResult r = c.resp_parser->feed(b, static_cast<size_t>(res));
  if (r.event != http::Event::kHeadComplete) {
    c.resp_parser->reset(c.x.head_request);  // the copy path parses these bytes again
    return false;
  }
  u.got_bytes = true;
  auto head_len = static_cast<uint32_t>(r.consumed);
  uint32_t piece = static_cast<uint32_t>(res) - head_len;
  const http::ResponseHead& rh = c.resp_parser->head();
  bool as_is = rh.no_body ? piece == 0 : rh.content_length >= static_cast<int64_t>(piece);
  if (as_is && lead_head(c, b + head_len, head_len + k_.up_bufs_.headroom())) {
    k_.count_attempt(c.x, metrics::Outcome::kOk);  // the copy path (upstream_head_done) did not
    c.lead_bid = bid;
    c.lead_len += piece;
    ++k_.leads_held_;
    lead_body(c, u, piece, static_cast<uint32_t>(res) == u.recv_len);
    return true;
  }
  // A chunked or close-delimited body, or a head too large for the room: the head is
  // finished now, while its views into `b` are valid, and the rest goes the copy path.
  k_.pool_.get(c.out, c.x.snap->c().head_buf_size);
  upstream_head_done(c, u);
  bool started = c.resp_started;  // false: upstream_failed already answered or retried
  if (started && piece > 0) {
    k_.append_received(u.in, b + head_len, piece, k_.up_bufs_.buf_size());
  }
  k_.up_bufs_.recycle(bid);
  if (started) {
    upstream_input(c, u, true);
  }
  return true;
}

// Writes the client's response head so that it ends at `head_end`, where the body bytes
// start, in at most `room` bytes before it; the lead is then that head. False when it
// does not fit (resp_started stays false).
bool Upstreams::lead_head(ClientConn& c, char* head_end, uint32_t room) {
  Writer w(k_.scratch_.data(), std::min<size_t>(k_.scratch_.size(), room));
  if (!client_response_head(c, w)) {
    return false;
  }
  c.lead = head_end - w.size();
  c.lead_len = static_cast<uint32_t>(w.size());
  std::memcpy(c.lead, k_.scratch_.data(), w.size());
  return true;
}

// After the lead's `piece` of body: the rest, if any, is received straight into `out`
// behind it (as go_direct); else the response is complete.
void Upstreams::lead_body(ClientConn& c, UpstreamConn& u, uint32_t piece, bool more_likely) {
  const http::ResponseHead& rh = c.resp_parser->head();
  client_.client_set_timer(c, TimerKind::kBackend, c.x.timeout_ms);
  int64_t left = rh.no_body ? 0 : rh.content_length - piece;
  if (left == 0) {
    response_complete(c, rh.keep_alive && c.x.req_sent);
    return;
  }
  c.direct_left = left;
  k_.pool_.get(c.out, left > kDirectMinBody ? kRelayBufSize : c.x.snap->c().head_buf_size);
  direct_continue(c, u, more_likely);
}

// The lead bytes, then whatever `out` holds, in one sendmsg (its arguments live in the
// lead buffer's slot until the completion).
void ClientSide::prep_lead_send(io_uring_sqe* s, ClientConn& c, int flags) {
  if (c.out.empty()) {
    transport::prep_send(s, c.io, c.fd, c.fixed, c.lead, c.lead_len, flags);
    return;
  }
  ShardCore::LeadMsg& m = k_.lead_msgs_[c.lead_bid];
  m.iov[0] = {c.lead, c.lead_len};
  m.iov[1] = {c.out.data + c.out.head, c.out.size()};
  m.hdr = msghdr{};
  m.hdr.msg_iov = m.iov;
  m.hdr.msg_iovlen = 2;
  transport::prep_sendmsg(s, c.io, c.fd, c.fixed, &m.hdr, flags);
}

// `n` bytes were sent: the lead's first, then out's.
void ClientSide::consume_sent(ClientConn& c, uint32_t n) {
  c.x.trace.bytes_out += n;
  if (c.lead != nullptr) {
    uint32_t k = std::min(n, c.lead_len);
    c.lead += k;
    c.lead_len -= k;
    n -= k;
    if (c.lead_len == 0) {
      release_lead(c);
    }
  }
  c.out.head += n;
}

void ClientSide::release_lead(ClientConn& c) {
  if (c.lead != nullptr) {
    k_.up_bufs_.recycle(c.lead_bid);
    --k_.leads_held_;
    c.lead = nullptr;
    c.lead_len = 0;
  }
}

}  // namespace ringway::proxy
