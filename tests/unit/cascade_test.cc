// Unit tests of the cascade channel (ringway/cascade.h): the signed headers round trip, each
// verdict, the skew and hop edges, key rotation, a known vector computed with openssl, and the
// node-wide replay cache (single thread, expiry, concurrency, a full table).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ringway/cascade.h"

namespace ringway::cascade {
namespace {

constexpr int64_t kNow = 1704164645;
constexpr std::string_view kKey = "cascade-test-key-0123456789";
constexpr std::string_view kOldKey = "cascade-old-key-9876543210";
constexpr std::string_view kInstance = "gw-west-1";
constexpr std::string_view kMethod = "GET";
constexpr std::string_view kTarget = "/v1/orders?limit=5&tag=a%20b";
constexpr std::string_view kHost = "gw-east.example:8080";
constexpr uint8_t kNonce[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
const std::string_view kAllowed[] = {"gw-north-1", kInstance};

// The header lines write_headers() produced, and their values parsed back as a receiver
// would: names matched case-insensitively against kHeaderPrefix + field.
struct Signed {
  std::string text;
  Fields fields;
};

bool EqualsLower(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i] >= 'A' && name[i] <= 'Z' ? static_cast<char>(name[i] + 32) : name[i];
    if (c != lower[i]) {
      return false;
    }
  }
  return true;
}

void ParseLines(std::string_view text, Fields* f) {
  const std::pair<std::string_view, std::string_view*> fields[] = {
      {"instance", &f->instance}, {"time", &f->time},           {"nonce", &f->nonce},
      {"hop", &f->hop},           {"signature", &f->signature},
  };
  while (!text.empty()) {
    const size_t end = text.find("\r\n");
    ASSERT_NE(end, std::string_view::npos);
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 2);
    const size_t colon = line.find(": ");
    ASSERT_NE(colon, std::string_view::npos);
    const std::string_view name = line.substr(0, colon);
    bool known = false;
    for (const auto& [suffix, value] : fields) {
      if (EqualsLower(name, std::string(kHeaderPrefix) + std::string(suffix))) {
        *value = line.substr(colon + 2);
        known = true;
      }
    }
    EXPECT_TRUE(known) << name;
  }
}

Signed Sign(std::string_view key = kKey, int64_t time = kNow, uint32_t hop = 1,
            const uint8_t* nonce = kNonce) {
  Signed s;
  char buf[512];
  const size_t n =
      write_headers(key, kInstance, time, nonce, hop, kMethod, kTarget, kHost, buf, sizeof(buf));
  s.text.assign(buf, n);
  ParseLines(s.text, &s.fields);
  return s;
}

Verdict Verify(const Fields& f, int64_t now = kNow, std::string_view target = kTarget,
               const std::string_view* keys = &kKey, size_t nkeys = 1) {
  uint32_t hop = 0;
  int64_t time = 0;
  return verify(f, keys, nkeys, kAllowed, std::size(kAllowed), now, kMethod, target, kHost, &hop,
                &time);
}

TEST(CascadeSign, RoundTrip) {
  const Signed s = Sign(kKey, kNow, 2);
  ASSERT_FALSE(s.text.empty());
  EXPECT_EQ(s.fields.instance, kInstance);
  EXPECT_EQ(s.fields.time, "1704164645");
  EXPECT_EQ(s.fields.nonce, "00112233445566778899aabbccddeeff");
  EXPECT_EQ(s.fields.hop, "2");
  uint32_t hop = 0;
  int64_t time = 0;
  EXPECT_EQ(verify(s.fields, &kKey, 1, kAllowed, 2, kNow, kMethod, kTarget, kHost, &hop, &time),
            Verdict::kOk);
  EXPECT_EQ(hop, 2u);
  EXPECT_EQ(time, kNow);
  EXPECT_TRUE(any_present(s.fields));
  EXPECT_FALSE(any_present(Fields{}));
  EXPECT_TRUE(any_present(Fields{.hop = "1"}));
}

// The string to sign and its HMAC, computed independently (one command line):
// clang-format off
//   printf 'RINGWAY-CASCADE-V1\ngw-west-1\n1704164645\n00112233445566778899aabbccddeeff\n1\nGET\n/v1/orders?limit=5&tag=a%%20b\ngw-east.example:8080' | openssl dgst -sha256 -hmac 'cascade-test-key-0123456789'
// clang-format on
TEST(CascadeSign, KnownVector) {
  const Signed s = Sign();
  EXPECT_EQ(s.text,
            "X-Ringway-Cascade-Instance: gw-west-1\r\n"
            "X-Ringway-Cascade-Time: 1704164645\r\n"
            "X-Ringway-Cascade-Nonce: 00112233445566778899aabbccddeeff\r\n"
            "X-Ringway-Cascade-Hop: 1\r\n"
            "X-Ringway-Cascade-Signature: "
            "ac2bb6e15497d7bc140cdc2dd8e346166d612dfe0ebf8766ac2ffcca2003f1d7\r\n");
}

TEST(CascadeSign, RefusesWhatDoesNotFitOrIsOutOfRange) {
  char buf[512];
  const size_t full =
      write_headers(kKey, kInstance, kNow, kNonce, 1, kMethod, kTarget, kHost, buf, sizeof(buf));
  ASSERT_GT(full, 0u);
  EXPECT_EQ(write_headers(kKey, kInstance, kNow, kNonce, 1, kMethod, kTarget, kHost, buf, full),
            full);
  EXPECT_EQ(write_headers(kKey, kInstance, kNow, kNonce, 1, kMethod, kTarget, kHost, buf, full - 1),
            0u);
  auto with = [&](std::string_view instance, uint32_t hop, int64_t now) {
    return write_headers(kKey, instance, now, kNonce, hop, kMethod, kTarget, kHost, buf,
                         sizeof(buf));
  };
  EXPECT_EQ(with(kInstance, 0, kNow), 0u);
  EXPECT_EQ(with(kInstance, 100, kNow), 0u);
  EXPECT_GT(with(kInstance, 99, kNow), 0u);
  EXPECT_EQ(with(kInstance, 1, -1), 0u);
  EXPECT_EQ(with("", 1, kNow), 0u);
  EXPECT_EQ(with("gw west", 1, kNow), 0u);
  EXPECT_EQ(with("gw\r\nX-Evil: 1", 1, kNow), 0u);
  EXPECT_EQ(with(std::string(65, 'a'), 1, kNow), 0u);
}

TEST(CascadeVerify, SkewEdgesBothWays) {
  EXPECT_EQ(Verify(Sign(kKey, kNow - 300).fields), Verdict::kOk);
  EXPECT_EQ(Verify(Sign(kKey, kNow + 300).fields), Verdict::kOk);
  EXPECT_EQ(Verify(Sign(kKey, kNow - 301).fields), Verdict::kStale);
  EXPECT_EQ(Verify(Sign(kKey, kNow + 301).fields), Verdict::kStale);
  EXPECT_EQ(Verify(Sign().fields, kNow + 300), Verdict::kOk);
  EXPECT_EQ(Verify(Sign().fields, kNow + 301), Verdict::kStale);
  EXPECT_EQ(Verify(Sign(kKey, 0).fields, 0), Verdict::kOk);
}

TEST(CascadeVerify, HopLimit) {
  EXPECT_EQ(Verify(Sign(kKey, kNow, 3).fields), Verdict::kOk);
  EXPECT_EQ(Verify(Sign(kKey, kNow, 4).fields), Verdict::kLoop);
  EXPECT_EQ(Verify(Sign(kKey, kNow, 99).fields), Verdict::kLoop);
  // The hop is signed: raising it breaks the signature before the loop check is reached.
  Signed s = Sign(kKey, kNow, 3);
  s.fields.hop = "4";
  EXPECT_EQ(Verify(s.fields), Verdict::kBadSignature);
}

TEST(CascadeVerify, KeyRotation) {
  const std::string_view both[] = {kKey, kOldKey};
  EXPECT_EQ(Verify(Sign(kKey).fields, kNow, kTarget, both, 2), Verdict::kOk);
  EXPECT_EQ(Verify(Sign(kOldKey).fields, kNow, kTarget, both, 2), Verdict::kOk);
  EXPECT_EQ(Verify(Sign("a-third-key-never-configured").fields, kNow, kTarget, both, 2),
            Verdict::kBadSignature);
  EXPECT_EQ(Verify(Sign(kOldKey).fields, kNow, kTarget, both, 1), Verdict::kBadSignature);
  EXPECT_EQ(Verify(Sign(kKey).fields, kNow, kTarget, both, 0), Verdict::kBadSignature);
}

TEST(CascadeVerify, EachSignedPartMatters) {
  const auto signed_request = Sign();  // owns the strings the fields view
  const Fields f = signed_request.fields;
  uint32_t hop = 0;
  int64_t time = 0;
  auto check = [&](std::string_view method, std::string_view target, std::string_view host) {
    return verify(f, &kKey, 1, kAllowed, 2, kNow, method, target, host, &hop, &time);
  };
  EXPECT_EQ(check(kMethod, kTarget, kHost), Verdict::kOk);
  EXPECT_EQ(check("POST", kTarget, kHost), Verdict::kBadSignature);
  EXPECT_EQ(check(kMethod, "/v1/orders?limit=6&tag=a%20b", kHost), Verdict::kBadSignature);
  EXPECT_EQ(check(kMethod, "/v1/orders?limit=5&tag=a b", kHost), Verdict::kBadSignature);
  EXPECT_EQ(check(kMethod, kTarget, "gw-east.example"), Verdict::kBadSignature);
  Fields g = f;
  g.time = "1704164646";
  EXPECT_EQ(Verify(g), Verdict::kBadSignature);
  g = f;
  g.nonce = "00112233445566778899aabbccddeefe";
  EXPECT_EQ(Verify(g), Verdict::kBadSignature);
  g = f;
  g.signature = "0000000000000000000000000000000000000000000000000000000000000000";
  EXPECT_EQ(Verify(g), Verdict::kBadSignature);
}

TEST(CascadeVerify, NotAllowed) {
  Signed s = Sign();
  s.fields.instance = "gw-south-1";
  EXPECT_EQ(Verify(s.fields), Verdict::kNotAllowed);
  s.fields.instance = "GW-WEST-1";
  EXPECT_EQ(Verify(s.fields), Verdict::kNotAllowed);
  uint32_t hop = 0;
  int64_t time = 0;
  EXPECT_EQ(verify(Sign().fields, &kKey, 1, nullptr, 0, kNow, kMethod, kTarget, kHost, &hop, &time),
            Verdict::kNotAllowed);
}

TEST(CascadeVerify, Malformed) {
  const auto signed_ok = Sign();  // owns the strings the fields view
  const Fields ok = signed_ok.fields;
  struct Case {
    std::string_view Fields::*field;
    std::string_view value;
  };
  const Case cases[] = {
      {&Fields::instance, ""},
      {&Fields::instance, "gw west"},
      {&Fields::time, ""},
      {&Fields::time, "-1704164645"},
      {&Fields::time, "1704164645.0"},
      {&Fields::time, " 1704164645"},
      {&Fields::time, "1234567890123456789"},
      {&Fields::nonce, ""},
      {&Fields::nonce, "00112233445566778899AABBCCDDEEFF"},
      {&Fields::nonce, "00112233445566778899aabbccddeef"},
      {&Fields::nonce, "00112233445566778899aabbccddeeff0"},
      {&Fields::nonce, "00112233445566778899aabbccddeefg"},
      {&Fields::hop, ""},
      {&Fields::hop, "0"},
      {&Fields::hop, "01"},
      {&Fields::hop, "100"},
      {&Fields::hop, "+1"},
      {&Fields::signature, ""},
      {&Fields::signature, std::string_view(ok.signature.data(), 63)},
      {&Fields::signature, "AC2BB6E15497D7BC140CDC2DD8E346166D612DFE0EBF8766AC2FFCCA2003F1D7"},
  };
  for (const Case& c : cases) {
    Fields f = ok;
    f.*c.field = c.value;
    EXPECT_EQ(Verify(f), Verdict::kMalformed) << c.value;
  }
  // Malformed wins over every later check.
  const auto signed_old = Sign(kKey, kNow - 1000, 7);
  Fields f = signed_old.fields;
  f.instance = "unknown";
  f.nonce = "x";
  EXPECT_EQ(Verify(f), Verdict::kMalformed);
}

TEST(CascadeVerify, CheckOrder) {
  // not allowed before stale, stale before the signature, the signature before the hop.
  Signed s = Sign("wrong-key", kNow - 1000, 9);
  EXPECT_EQ(Verify(s.fields), Verdict::kStale);
  s.fields.instance = "gw-south-1";
  EXPECT_EQ(Verify(s.fields), Verdict::kNotAllowed);
  EXPECT_EQ(Verify(Sign("wrong-key", kNow, 9).fields), Verdict::kBadSignature);
}

TEST(CascadeVerdicts, StatusCodeMessage) {
  struct Row {
    Verdict v;
    uint16_t status;
    std::string_view code;
  };
  const Row rows[] = {
      {Verdict::kDisabled, 403, "RW.4031"},     {Verdict::kNotAllowed, 403, "RW.4032"},
      {Verdict::kMalformed, 401, "RW.4016"},    {Verdict::kStale, 401, "RW.4017"},
      {Verdict::kBadSignature, 401, "RW.4018"}, {Verdict::kReplay, 401, "RW.4019"},
      {Verdict::kLoop, 508, "RW.5081"},         {Verdict::kCacheFull, 503, "RW.5033"},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(status(r.v), r.status) << r.code;
    EXPECT_EQ(error_code(r.v), r.code);
    EXPECT_FALSE(error_message(r.v).empty()) << r.code;
  }
  EXPECT_EQ(error_message(Verdict::kDisabled), "cascade is not enabled on this instance");
  EXPECT_EQ(error_message(Verdict::kNotAllowed), "instance not allowed to cascade here");
  EXPECT_EQ(error_message(Verdict::kLoop), "cascade hop limit exceeded (a loop?)");
  EXPECT_EQ(status(Verdict::kOk), 200);
  EXPECT_EQ(error_code(Verdict::kOk), "");
}

std::string NonceHex(uint64_t i) {
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", 0x5eedULL, static_cast<unsigned long long>(i));
  return buf;
}

TEST(CascadeNonceCache, FreshThenReplay) {
  NonceCache c(10);
  EXPECT_EQ(c.slots(), 1024u);
  const std::string a = NonceHex(1), b = NonceHex(2);
  EXPECT_EQ(c.insert(a, kNow, kNow), NonceCache::Result::kFresh);
  EXPECT_EQ(c.insert(a, kNow, kNow), NonceCache::Result::kReplay);
  EXPECT_EQ(c.insert(a, kNow - 100, kNow + 200), NonceCache::Result::kReplay);
  EXPECT_EQ(c.insert(b, kNow, kNow), NonceCache::Result::kFresh);
  EXPECT_EQ(c.insert(b, kNow, kNow + 1), NonceCache::Result::kReplay);
}

TEST(CascadeNonceCache, ExpiresAfterTwiceTheSkew) {
  NonceCache c(10);
  const std::string a = NonceHex(1);
  EXPECT_EQ(c.insert(a, kNow, kNow), NonceCache::Result::kFresh);
  EXPECT_EQ(c.insert(a, kNow, kNow + 2 * kMaxSkewS - 1), NonceCache::Result::kReplay);
  EXPECT_EQ(c.insert(a, kNow, kNow + 2 * kMaxSkewS), NonceCache::Result::kFresh);
  // A request stamped in the future lives 2 * skew from its own time.
  const std::string b = NonceHex(2);
  EXPECT_EQ(c.insert(b, kNow + 300, kNow), NonceCache::Result::kFresh);
  EXPECT_EQ(c.insert(b, kNow + 300, kNow + 899), NonceCache::Result::kReplay);
  EXPECT_EQ(c.insert(b, kNow + 300, kNow + 900), NonceCache::Result::kFresh);
}

TEST(CascadeNonceCache, TinyTableIsFullRatherThanEvicting) {
  NonceCache c(3);  // 8 slots, all in every probe window
  ASSERT_EQ(c.slots(), 8u);
  for (uint64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(c.insert(NonceHex(i), kNow, kNow), NonceCache::Result::kFresh) << i;
  }
  EXPECT_EQ(c.insert(NonceHex(100), kNow, kNow + 10), NonceCache::Result::kFull);
  for (uint64_t i = 0; i < 8; ++i) {  // nothing was evicted
    EXPECT_EQ(c.insert(NonceHex(i), kNow, kNow + 10), NonceCache::Result::kReplay) << i;
  }
  // Once the entries expire, their slots are reused.
  const int64_t later = kNow + 2 * kMaxSkewS;
  EXPECT_EQ(c.insert(NonceHex(100), later, later), NonceCache::Result::kFresh);
  EXPECT_EQ(c.insert(NonceHex(0), later, later), NonceCache::Result::kFresh);
  EXPECT_EQ(c.insert(NonceHex(100), later, later), NonceCache::Result::kReplay);
}

TEST(CascadeNonceCache, ThreadsWithDistinctNoncesAreAllFresh) {
  NonceCache c(16);
  constexpr int kThreads = 8, kPerThread = 2000;
  std::atomic<int> fresh{0}, go{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      go.fetch_add(1);
      while (go.load() < kThreads) {
        std::this_thread::yield();
      }
      for (int i = 0; i < kPerThread; ++i) {
        const std::string n = NonceHex(static_cast<uint64_t>(t) * kPerThread + i);
        fresh += c.insert(n, kNow, kNow) == NonceCache::Result::kFresh;
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(fresh.load(), kThreads * kPerThread);
}

TEST(CascadeNonceCache, ThreadsWithTheSameNonceOneFresh) {
  NonceCache c(12);
  constexpr int kThreads = 6, kRounds = 200;
  for (int round = 0; round < kRounds; ++round) {
    const std::string n = NonceHex(1000 + round);
    std::atomic<int> fresh{0}, replay{0}, go{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        go.fetch_add(1);
        while (go.load() < kThreads) {
          std::this_thread::yield();
        }
        const NonceCache::Result r = c.insert(n, kNow, kNow);
        fresh += r == NonceCache::Result::kFresh;
        replay += r == NonceCache::Result::kReplay;
      });
    }
    for (auto& th : threads) {
      th.join();
    }
    ASSERT_EQ(fresh.load(), 1) << "round " << round;
    ASSERT_EQ(replay.load(), kThreads - 1) << "round " << round;
  }
}

}  // namespace
}  // namespace ringway::cascade
