// Certificates for the TLS integration tests, made at test time with the openssl CLI
// (OPENSSL_BIN, set by tests/integration/meson.build) in a temporary directory: nothing is
// checked in, nothing expires between runs. Debian 12's openssl 3.0 has no `x509 -not_after`
// (3.4+): the expired certificate comes from `openssl ca -startdate/-enddate` with a minimal
// CA database. Every file is PEM; keys are unencrypted PKCS#8.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace ringway::integration {

// Paths of a certificate file (the leaf first, then any intermediates) and its private key.
struct KeyPair {
  std::string cert;
  std::string key;
};

struct TestPki {
  std::string dir;

  // "ringway test CA", ECDSA P-256, self-signed: it signs every server certificate below
  // except `chain` (signed by its intermediate) and none of the client ones.
  std::string ca;
  KeyPair a;          // CN a.test; SAN DNS:a.test, DNS:localhost, IP:127.0.0.1 (ECDSA)
  KeyPair a_rotated;  // the same names, another key and subject "O = ringway rotated" (reload)
  KeyPair b;          // CN b.test; SAN DNS:b.test (RSA 2048)
  KeyPair wild;       // CN *.wild.test; SAN DNS:*.wild.test
  KeyPair wrong;      // CN wrong.test; SAN DNS:wrong.test
  KeyPair expired;    // the names of `a`, valid 2020-01-01 to 2020-01-02 only
  KeyPair chain;      // CN chain.test, by "ringway test intermediate"; cert = leaf + intermediate

  // "ringway client CA" and the gateway's / curl's client certificate (clientAuth).
  std::string client_ca;
  KeyPair client;  // CN ringway-client, by client_ca

  // An unrelated CA and what it signs.
  std::string other_ca;
  KeyPair rogue_client;  // CN ringway-client, by other_ca (not by client_ca)

  std::string unmatched_key;  // a private key of no certificate here
  std::string not_pem;        // PEM markers around bytes that are no certificate
};

// The openssl and curl executables from the environment; a failure says how to set them.
::testing::AssertionResult OpensslBin(std::string* path);
::testing::AssertionResult CurlBin(std::string* path);

// Makes all of TestPki in `dir` (about thirty openssl runs, well under a second each).
::testing::AssertionResult MakePki(const std::string& dir, TestPki* pki);

// One TestPki for the whole test binary, made on first use in a temporary directory that
// is removed at exit. A failure to make it is returned to every caller.
::testing::AssertionResult SharedPki(const TestPki** pki);

// The first PEM block ("-----BEGIN ...-----" to "-----END ...-----\n") of a file; "" if none.
std::string FirstPemBlock(const std::string& path);

}  // namespace ringway::integration
