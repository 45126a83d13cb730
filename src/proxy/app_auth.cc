// ClientSide (client_side.h): App authentication of `auth_type: app` APIs (app_auth.h,
// ringway/auth.h). A request without a body, or whose body the client left unsigned
// (X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD), is verified at its head. A signed body is
// hashed and held behind the backend head in up_out, nothing is sent, and the verdict comes
// when the body is whole; an answer the gateway gives itself (a mock, a breaker's mock or
// 503) waits for it too. Refusals are 401 with a JSON body and a code per reason
// (auth::error_code); the log names the reason and the app key, never the secret.
#include <algorithm>
#include <cstring>

#include "proxy/shard.h"
#include "ringway/log.h"

namespace ringway::proxy {
namespace {

std::string_view head_header(const void* ctx, std::string_view lower_name) {
  return static_cast<const http::RequestHead*>(ctx)->get(lower_name);
}

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char ch) {
           return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
         });
}

}  // namespace

bool ClientSide::client_app_auth(ClientConn& c) {
  const http::RequestHead& h = c.req_parser->head();
  const std::string_view value = h.get("authorization");
  auth::Authorization a;
  const AppCredential* app = nullptr;
  auth::AuthError e = auth::AuthError::kNone;
  if (value.empty()) {
    e = auth::AuthError::kMissing;
  } else if (!auth::parse_authorization(value, &a)) {
    e = auth::AuthError::kMalformed;
  } else if ((app = c.x.snap->c().find_app(a.access)) == nullptr) {
    e = auth::AuthError::kUnknownKey;
  }
  const auth::RequestView r{h.method_name, h.path, h.query, &h, &head_header};
  const std::string_view claimed = h.get("x-sdk-content-sha256");
  const bool hold = h.has_body() && claimed != auth::kUnsignedPayload;
  if (e == auth::AuthError::kNone && !hold) {
    // No body: the claimed hash, if any, must be the empty body's.
    const bool claim_ok =
        claimed.empty() || claimed == auth::kUnsignedPayload || claimed == auth::kEmptyBodySha256;
    e = !claim_ok
            ? auth::AuthError::kBadSignature
            : auth::verify(r, a, app->secret, claimed.empty() ? auth::kEmptyBodySha256 : claimed,
                           k_.unix_s_, k_.scratch_.data(), k_.scratch_.size());
  } else if (e == auth::AuthError::kNone) {
    AuthHold* ah = k_.take_auth_hold();
    e = ah->verify.begin(r, a, k_.unix_s_, k_.scratch_.data(), k_.scratch_.size());
    ah->app = app;
    ah->body.reset();
    ah->has_claimed = !claimed.empty();
    std::memset(ah->claimed, 0, sizeof(ah->claimed));
    claimed.copy(ah->claimed, sizeof(ah->claimed));
    if (ah->has_claimed && !is_hex64(claimed)) {
      e = auth::AuthError::kBadSignature;  // a hash the body can never have
    }
    c.x.auth = ah;
    if (e != auth::AuthError::kNone) {
      k_.give_auth_hold(c);
    }
  }
  if (e == auth::AuthError::kNone) {
    return true;
  }
  RW_INFO("shard %u: app auth refused %.*s: %.*s (key \"%.*s\") request_id=%.*s", k_.id_,
          static_cast<int>(auth::error_code(e).size()), auth::error_code(e).data(),
          static_cast<int>(auth::error_message(e).size()), auth::error_message(e).data(),
          static_cast<int>(std::min<size_t>(a.access.size(), 64)), a.access.data(),
          static_cast<int>(c.x.request_id_len), c.x.request_id);
  client_answer_locally(c);
  client_error(c, 401, auth::error_code(e), auth::error_message(e), false);
  return false;
}

bool ClientSide::client_defer_local(ClientConn& c, const route::CompiledBackend* mock) {
  if (c.x.auth == nullptr) {
    return false;
  }
  c.state = ClientState::kForward;  // the body goes to up_out, and nowhere else
  c.x.rechunk_request = false;
  c.x.deferred_mock = mock;
  c.x.deferred_reject = mock == nullptr;
  client_set_timer(c, TimerKind::kClientBody, c.x.snap->c().config.limits.client_idle_timeout_ms);
  return true;
}

void ClientSide::client_auth_body_done(ClientConn& c) {
  AuthHold& ah = *c.x.auth;
  char hex[64];
  ah.body.hex(hex);
  const std::string_view body_hash(hex, sizeof(hex));
  auth::AuthError e = ah.has_claimed && std::string_view(ah.claimed, 64) != body_hash
                          ? auth::AuthError::kBadSignature
                          : ah.verify.finish(ah.app->secret, body_hash);
  k_.give_auth_hold(c);
  if (e != auth::AuthError::kNone) {
    RW_INFO("shard %u: app auth refused %.*s: %.*s (held body) request_id=%.*s", k_.id_,
            static_cast<int>(auth::error_code(e).size()), auth::error_code(e).data(),
            static_cast<int>(auth::error_message(e).size()), auth::error_message(e).data(),
            static_cast<int>(c.x.request_id_len), c.x.request_id);
    client_error(c, 401, auth::error_code(e), auth::error_message(e), false);
    return;
  }
  if (c.x.deferred_mock != nullptr || c.x.deferred_reject) {
    c.state = ClientState::kLocal;
    if (c.x.deferred_reject) {
      client_error(c, 503, "RW.5031", "circuit breaker open", false);
    } else {
      client_local_reply(c, *c.x.deferred_mock);
    }
    return;
  }
  fwd_.send_held(c);
}

bool ClientSide::client_hold_room(ClientConn& c) {
  core::IoBuf& b = c.x.up_out;
  const Compiled& cc = c.x.snap->c();
  // The parser stops a body over max_body_bytes (413); re-chunking adds at most its framing.
  const uint64_t limit = uint64_t{cc.head_buf_size} + cc.config.limits.max_body_bytes +
                         cc.config.limits.max_body_bytes / 8 + 65536;
  const uint64_t cap = std::min<uint64_t>(std::max<uint64_t>(2ull * b.cap, 65536), limit);
  const uint64_t grow = cap > b.cap ? cap - b.cap : 0;
  if (grow == 0) {
    client_error(c, 413, "RW.4130", "request body too large", true);
    return false;
  }
  if (k_.held_body_bytes_ + grow > kMaxHeldBodyBytes || cap > UINT32_MAX) {
    client_error(c, 503, "RW.5032", "too many signed request bodies held; retry later", true);
    return false;
  }
  core::IoBuf bigger;
  k_.pool_.get(bigger, static_cast<uint32_t>(cap));
  std::memcpy(bigger.data, b.data, b.tail);  // same offsets: attempt_off stays valid
  bigger.head = b.head;
  bigger.tail = b.tail;
  k_.pool_.put(b);
  b = bigger;
  c.x.auth->held += grow;
  k_.held_body_bytes_ += grow;
  return true;
}

}  // namespace ringway::proxy
