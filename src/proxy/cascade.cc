// The cascade channel on a shard (ringway/cascade.h, docs/cascade.md): ClientSide checks the
// channel's headers of a request from a cascading instance; the Forwarder signs each attempt
// of a request to a cascade backend. Refusals name their reason in the log, never a key or a
// signature.
#include "proxy/shard.h"
#include "ringway/log.h"

namespace ringway::proxy {
namespace {

// Whether any header name starts with "x-ringway-cascade-" (any case): one pass with a
// first-byte filter, so a request without them pays a compare per header and nothing more.
bool has_cascade_header(const http::RequestHead& h) {
  constexpr std::string_view kPrefix = cascade::kHeaderPrefix;
  for (uint32_t i = 0; i < h.header_count; ++i) {
    const std::string_view n = h.headers[i].name;
    if (n.size() > kPrefix.size() && (n[0] | 0x20) == 'x' && n[1] == '-') {
      bool same = true;
      for (size_t j = 2; j < kPrefix.size() && same; ++j) {
        same = (n[j] >= 'A' && n[j] <= 'Z' ? n[j] + 32 : n[j]) == kPrefix[j];
      }
      if (same) {
        return true;
      }
    }
  }
  return false;
}

uint64_t mix(uint64_t z) {  // splitmix64's finaliser: a bijection
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

// Unique per shard (a bijection of a counter under each seed half); across shards and
// restarts the 128-bit random seeds keep collisions out of reach.
void ShardCore::nonce_bytes(uint8_t out[16]) {
  static_assert(sizeof(uint64_t) == 8);
  const uint64_t n = ++nonce_counter_;
  const uint64_t a = mix(nonce_state_[0] + n);
  const uint64_t b = mix(nonce_state_[1] ^ n);
  std::memcpy(out, &a, 8);
  std::memcpy(out + 8, &b, 8);
}

bool ClientSide::client_cascade_check(ClientConn& c) {
  const http::RequestHead& h = c.req_parser->head();
  c.x.cascade_hop = 0;
  if (!has_cascade_header(h)) {
    return true;
  }
  const cascade::Fields f{h.get("x-ringway-cascade-instance"), h.get("x-ringway-cascade-time"),
                          h.get("x-ringway-cascade-nonce"), h.get("x-ringway-cascade-hop"),
                          h.get("x-ringway-cascade-signature")};
  if (!cascade::any_present(f)) {
    return true;
  }
  const CascadeConfig& cc = c.x.snap->c().cascade;
  cascade::Verdict v = cascade::Verdict::kDisabled;
  uint32_t hop = 0;
  int64_t time = 0;
  if (cc.enabled) {
    Writer target(k_.scratch_.data(), k_.scratch_.size());  // the target as received
    target.put(h.path);
    if (!h.query.empty()) {
      target.put("?");
      target.put(h.query);
    }
    v = !target.ok()
            ? cascade::Verdict::kMalformed
            : cascade::verify(f, cc.keys.data(), cc.key_count, cc.allowed.data(), cc.allowed.size(),
                              k_.unix_s_, h.method_name, target.view(), h.host, &hop, &time);
  }
  if (v == cascade::Verdict::kOk) {
    cascade::NonceCache* nonces = k_.ctx_->nonces.load(std::memory_order_acquire);
    cascade::NonceCache::Result r = nonces != nullptr ? nonces->insert(f.nonce, time, k_.unix_s_)
                                                      : cascade::NonceCache::Result::kFull;
    v = r == cascade::NonceCache::Result::kFresh    ? cascade::Verdict::kOk
        : r == cascade::NonceCache::Result::kReplay ? cascade::Verdict::kReplay
                                                    : cascade::Verdict::kCacheFull;
  }
  if (v == cascade::Verdict::kOk) {
    c.x.cascade_hop = hop;
    return true;
  }
  const std::string_view code = cascade::error_code(v);
  const std::string_view msg = cascade::error_message(v);
  RW_INFO("shard %u: cascade refused %.*s: %.*s (instance \"%.*s\", hop \"%.*s\") request_id=%.*s",
          k_.id_, static_cast<int>(code.size()), code.data(), static_cast<int>(msg.size()),
          msg.data(), static_cast<int>(std::min<size_t>(f.instance.size(), 64)), f.instance.data(),
          static_cast<int>(std::min<size_t>(f.hop.size(), 8)), f.hop.data(),
          static_cast<int>(c.x.request_id_len), c.x.request_id);
  client_answer_locally(c);
  client_error(c, cascade::status(v), code, msg, false);
  return false;
}

void Forwarder::write_cascade(ClientConn& c, std::string_view host, Writer& w) {
  const CascadeConfig& cc = c.x.snap->c().cascade;
  const char* line = c.x.up_out.data + c.x.line_off;
  const std::string_view method(line, c.x.method_len);
  const std::string_view target(line + c.x.method_len + 1, c.x.target_len);
  uint8_t nonce[16];
  k_.nonce_bytes(nonce);
  char headers[768];
  const size_t n =
      cascade::write_headers(cc.keys[0], cc.instance, k_.unix_s_, nonce, c.x.cascade_hop + 1,
                             method, target, host, headers, sizeof(headers));
  if (n == 0) {
    w.fail();  // the attempt cannot be signed: the head counts as too large
    return;
  }
  w.put(std::string_view(headers, n));
}

}  // namespace ringway::proxy
