// Micro-benchmarks of the wolfSSL crypto that TLS termination and App authentication run:
// AES-128-GCM and ChaCha20-Poly1305 sealing of a 16 KiB record (bytes/s), a P-256 ECDHE
// (ephemeral key generation + shared secret with a peer's public key, per second) and
// HMAC-SHA256 of 1 KiB with the key set per message (as src/auth/sha256.cc does).
//
// Built twice from this file (bench/meson.build): bench_crypto against the static build that
// ringway links (tools/wolfssl: AES-NI, AVX2, SP x86-64 assembly) and, when pkg-config finds
// Debian's libwolfssl-dev (tools/setup --bench), bench_crypto_debian against Debian's shared
// library. Each sees only its own <wolfssl/options.h>; the checks below fail the build
// otherwise. The context line `wolfssl` names the build a run measured.
#include <wolfssl/options.h>
// (options.h first: the other wolfSSL headers depend on it)
#include <wolfssl/version.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "alloc_counter.h"

#if defined(RINGWAY_BENCH_WOLFSSL_DEBIAN)
#if defined(WOLFSSL_AESNI)
#error "bench_crypto_debian must see Debian's <wolfssl/options.h>, not the cached build's"
#endif
#elif !defined(WOLFSSL_AESNI) || !defined(USE_INTEL_SPEEDUP)
#error "bench_crypto must see the cached build's <wolfssl/options.h> (AES-NI), not Debian's"
#endif

namespace ringway::crypto {
namespace {

constexpr size_t kRecord = 16 * 1024;  // a full TLS record
constexpr size_t kHmacInput = 1024;

const byte kKey[32] = {0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
                       0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
                       0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4};
const byte kIv[12] = {0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88};
const byte kAad[13] = {0, 0, 0, 0, 0, 0, 0, 1, 0x17, 0x03, 0x03, 0x40, 0x00};  // TLS 1.2 style

std::vector<byte> Plaintext(size_t n) {
  std::vector<byte> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<byte>(i * 31 + 7);
  }
  return v;
}

void BM_Aes128GcmEncrypt16K(benchmark::State& state) {
  const std::vector<byte> in = Plaintext(kRecord);
  std::vector<byte> out(kRecord);
  byte tag[16];
  Aes aes;
  if (wc_AesInit(&aes, nullptr, INVALID_DEVID) != 0 || wc_AesGcmSetKey(&aes, kKey, 16) != 0) {
    state.SkipWithError("AES-GCM key set-up failed");
    return;
  }
  int rc = 0;
  bench::Loop(state, [&] {
    rc |= wc_AesGcmEncrypt(&aes, out.data(), in.data(), kRecord, kIv, sizeof(kIv), tag, sizeof(tag),
                           kAad, sizeof(kAad));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  });
  wc_AesFree(&aes);
  if (rc != 0) {
    state.SkipWithError("wc_AesGcmEncrypt failed");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRecord));
}
BENCHMARK(BM_Aes128GcmEncrypt16K);

void BM_ChaCha20Poly1305Encrypt16K(benchmark::State& state) {
  const std::vector<byte> in = Plaintext(kRecord);
  std::vector<byte> out(kRecord);
  byte tag[CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE];
  int rc = 0;
  bench::Loop(state, [&] {
    rc |= wc_ChaCha20Poly1305_Encrypt(kKey, kIv, kAad, sizeof(kAad), in.data(), kRecord, out.data(),
                                      tag);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  });
  if (rc != 0) {
    state.SkipWithError("wc_ChaCha20Poly1305_Encrypt failed");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRecord));
}
BENCHMARK(BM_ChaCha20Poly1305Encrypt16K);

// A server's ECDHE on P-256: a fresh ephemeral key, then the shared secret with the client's
// public key share (imported once, public part only).
void BM_P256Ecdhe(benchmark::State& state) {
  WC_RNG rng;
  ecc_key client;
  ecc_key client_pub;
  byte point[65];
  word32 point_len = sizeof(point);
  if (wc_InitRng(&rng) != 0) {
    state.SkipWithError("wc_InitRng failed");
    return;
  }
  wc_ecc_init(&client);
  wc_ecc_init(&client_pub);
  if (wc_ecc_make_key_ex(&rng, 32, &client, ECC_SECP256R1) != 0 ||
      wc_ecc_export_x963(&client, point, &point_len) != 0 ||
      wc_ecc_import_x963_ex(point, point_len, &client_pub, ECC_SECP256R1) != 0) {
    state.SkipWithError("client key set-up failed");
    return;
  }
  int rc = 0;
  // Not on the per-request path (once per full handshake): allocations are reported, not
  // failed (wolfSSL allocates with malloc, which the counter does not see anyway).
  bench::Loop(
      state,
      [&] {
        ecc_key eph;
        byte secret[32];
        word32 secret_len = sizeof(secret);
        rc |= wc_ecc_init(&eph);
        rc |= wc_ecc_make_key_ex(&rng, 32, &eph, ECC_SECP256R1);
#if defined(ECC_TIMING_RESISTANT) && !defined(WC_NO_RNG)
        rc |= wc_ecc_set_rng(&eph, &rng);  // the blinding of the timing-resistant multiply
#endif
        rc |= wc_ecc_shared_secret(&eph, &client_pub, secret, &secret_len);
        benchmark::DoNotOptimize(secret);
        wc_ecc_free(&eph);
      },
      false);
  wc_ecc_free(&client_pub);
  wc_ecc_free(&client);
  wc_FreeRng(&rng);
  if (rc != 0) {
    state.SkipWithError("P-256 key generation or shared secret failed");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_P256Ecdhe);

void BM_HmacSha256_1K(benchmark::State& state) {
  const std::vector<byte> in = Plaintext(kHmacInput);
  byte digest[WC_SHA256_DIGEST_SIZE];
  Hmac hmac;
  if (wc_HmacInit(&hmac, nullptr, INVALID_DEVID) != 0) {
    state.SkipWithError("wc_HmacInit failed");
    return;
  }
  int rc = 0;
  bench::Loop(state, [&] {
    rc |= wc_HmacSetKey(&hmac, WC_SHA256, kKey, sizeof(kKey));
    rc |= wc_HmacUpdate(&hmac, in.data(), kHmacInput);
    rc |= wc_HmacFinal(&hmac, digest);
    benchmark::DoNotOptimize(digest);
  });
  wc_HmacFree(&hmac);
  if (rc != 0) {
    state.SkipWithError("HMAC-SHA256 failed");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kHmacInput));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HmacSha256_1K);

std::string BuildName() {
  std::string s = "wolfSSL " LIBWOLFSSL_VERSION_STRING;
#if defined(RINGWAY_BENCH_WOLFSSL_DEBIAN)
  s += ", Debian's libwolfssl (shared)";
#else
  s += ", tools/wolfssl build (static)";
#endif
#if defined(WOLFSSL_AESNI)
  s += ", AES-NI";
#endif
#if defined(USE_INTEL_SPEEDUP)
  s += ", AVX1/AVX2";
#endif
#if defined(WOLFSSL_SP_X86_64_ASM)
  s += ", SP x86-64 asm";
#endif
  return s;
}

}  // namespace
}  // namespace ringway::crypto

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::AddCustomContext("wolfssl", ringway::crypto::BuildName());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
