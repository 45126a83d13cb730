// Certificates for the TLS integration tests, made with the openssl CLI.
#include "tls_certs.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

#include "harness.h"

namespace ringway::integration {
namespace {

constexpr int kOpensslTimeoutMs = 20000;

// The configuration of the req, x509 and ca runs (not the system's openssl.cnf): request
// defaults, the extensions of each kind of certificate, and the CA database of `openssl ca`
// (@DIR@: the PKI's directory).
constexpr std::string_view kOpensslCnf = R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = unused

[root_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[intermediate_ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[server_a]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:a.test,DNS:localhost,IP:127.0.0.1

[server_b]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:b.test

[server_wild]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:*.wild.test

[server_wrong]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.test

[server_chain]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:chain.test

[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ca]
default_ca = expired_ca
[expired_ca]
dir = @DIR@/expired-ca
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
certificate = @DIR@/ca.crt
private_key = @DIR@/ca.key
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none
[any_name]
commonName = supplied
)";

class PkiMaker {
 public:
  PkiMaker(std::string openssl, std::string dir)
      : openssl_(std::move(openssl)), dir_(std::move(dir)) {}

  ::testing::AssertionResult Make(TestPki* pki) {
    pki->dir = dir_;
    std::string cnf(kOpensslCnf);
    for (size_t at = cnf.find("@DIR@"); at != std::string::npos; at = cnf.find("@DIR@", at)) {
      cnf.replace(at, 5, dir_);
    }
    cnf_ = Write("openssl.cnf", cnf);
    const std::vector<std::function<::testing::AssertionResult()>> steps = {
        // Roots.
        [&] { return SelfSigned("ca", "/CN=ringway test CA", &pki->ca); },
        [&] { return SelfSigned("client-ca", "/CN=ringway client CA", &pki->client_ca); },
        [&] { return SelfSigned("other-ca", "/CN=unrelated CA", &pki->other_ca); },
        // Server certificates of the test CA.
        [&] { return Leaf("a", "/CN=a.test", "server_a", "ca", kEc, &pki->a); },
        [&] {
          return Leaf("a-rotated", "/O=ringway rotated/CN=a.test", "server_a", "ca", kEc,
                      &pki->a_rotated);
        },
        [&] { return Leaf("b", "/CN=b.test", "server_b", "ca", kRsa, &pki->b); },
        [&] { return Leaf("wild", "/CN=*.wild.test", "server_wild", "ca", kEc, &pki->wild); },
        [&] { return Leaf("wrong", "/CN=wrong.test", "server_wrong", "ca", kEc, &pki->wrong); },
        [&] { return Expired(&pki->expired); },
        [&] { return Chain(&pki->chain); },
        // Client certificates.
        [&] {
          return Leaf("client", "/CN=ringway-client", "client", "client-ca", kEc, &pki->client);
        },
        [&] {
          return Leaf("rogue-client", "/CN=ringway-client", "client", "other-ca", kEc,
                      &pki->rogue_client);
        },
        // Odd files.
        [&] { return NewKey("unmatched", kEc, &pki->unmatched_key); },
    };
    for (const auto& step : steps) {
      if (::testing::AssertionResult ok = step(); !ok) {
        return ok;
      }
    }
    // base64 of "not a certificate": the markers parse, the contents do not.
    pki->not_pem = Write("not-a-cert.pem",
                         "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                         "-----END CERTIFICATE-----\n");
    return ::testing::AssertionSuccess();
  }

 private:
  enum KeyType { kEc, kRsa };

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string Write(const std::string& name, std::string_view content) const {
    std::ofstream f(Path(name), std::ios::binary | std::ios::trunc);
    f << content;
    return Path(name);
  }

  ::testing::AssertionResult Openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {openssl_};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = RunCommand(argv, kOpensslTimeoutMs);
    if (r.exit_code != 0) {
      std::string cmd;
      for (const std::string& a : argv) {
        cmd += " " + a;
      }
      return ::testing::AssertionFailure()
             << "certificate generation failed (exit " << r.exit_code << "):" << cmd << "\n"
             << r.out << r.err;
    }
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult NewKey(const std::string& name, KeyType type, std::string* path) {
    *path = Path(name + ".key");
    if (type == kRsa) {
      return Openssl(
          {"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", *path});
    }
    return Openssl(
        {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", *path});
  }

  // A self-signed CA `name`.crt / `name`.key.
  ::testing::AssertionResult SelfSigned(const std::string& name, const std::string& subject,
                                        std::string* cert) {
    std::string key;
    ::testing::AssertionResult ok = NewKey(name, kEc, &key);
    *cert = Path(name + ".crt");
    return ok ? Openssl({"req", "-config", cnf_, "-x509", "-new", "-key", key, "-subj", subject,
                         "-days", "30", "-sha256", "-extensions", "root_ca", "-out", *cert})
              : ok;
  }

  ::testing::AssertionResult Csr(const std::string& name, const std::string& subject, KeyType type,
                                 KeyPair* out) {
    ::testing::AssertionResult ok = NewKey(name, type, &out->key);
    return ok ? Openssl({"req", "-config", cnf_, "-new", "-key", out->key, "-subj", subject, "-out",
                         Path(name + ".csr")})
              : ok;
  }

  // `name`.crt signed by the CA `issuer` (issuer.crt, issuer.key) with extensions `section`.
  ::testing::AssertionResult Leaf(const std::string& name, const std::string& subject,
                                  const std::string& section, const std::string& issuer,
                                  KeyType type, KeyPair* out) {
    ::testing::AssertionResult ok = Csr(name, subject, type, out);
    out->cert = Path(name + ".crt");
    return ok ? Openssl({"x509", "-req", "-in", Path(name + ".csr"), "-CA", Path(issuer + ".crt"),
                         "-CAkey", Path(issuer + ".key"), "-set_serial", std::to_string(++serial_),
                         "-days", "30", "-sha256", "-extfile", cnf_, "-extensions", section, "-out",
                         out->cert})
              : ok;
  }

  // The names of `a`, valid for one day in 2020, from `openssl ca` (the only 3.0 command that
  // takes both dates).
  ::testing::AssertionResult Expired(KeyPair* out) {
    ::testing::AssertionResult ok = Csr("expired", "/CN=a.test", kEc, out);
    if (!ok) {
      return ok;
    }
    std::error_code ec;
    std::filesystem::create_directories(Path("expired-ca"), ec);
    Write("expired-ca/index.txt", "");
    Write("expired-ca/serial", "1000\n");
    out->cert = Path("expired.crt");
    return Openssl({"ca", "-config", cnf_, "-batch", "-notext", "-startdate", "20200101000000Z",
                    "-enddate", "20200102000000Z", "-extensions", "server_a", "-in",
                    Path("expired.csr"), "-out", out->cert});
  }

  // chain.test by an intermediate of the test CA; the certificate file holds both.
  ::testing::AssertionResult Chain(KeyPair* out) {
    KeyPair inter;
    ::testing::AssertionResult ok =
        Leaf("intermediate", "/CN=ringway test intermediate", "intermediate_ca", "ca", kEc, &inter);
    KeyPair leaf;
    if (ok) {
      ok = Leaf("chain-leaf", "/CN=chain.test", "server_chain", "intermediate", kEc, &leaf);
    }
    if (!ok) {
      return ok;
    }
    std::ifstream l(leaf.cert, std::ios::binary);
    std::ifstream i(inter.cert, std::ios::binary);
    std::stringstream both;
    both << l.rdbuf() << i.rdbuf();
    out->cert = Write("chain.crt", both.str());
    out->key = leaf.key;
    return ::testing::AssertionSuccess();
  }

  std::string openssl_;
  std::string dir_;
  std::string cnf_;
  int serial_ = 100;
};

::testing::AssertionResult ToolFromEnv(const char* var, const char* tool, std::string* path) {
  const char* v = std::getenv(var);
  if (v == nullptr || *v == '\0') {
    return ::testing::AssertionFailure()
           << var << " is not set: run through `meson test` (" << tool
           << " must be installed before `meson setup`; tools/setup installs it)";
  }
  *path = v;
  return ::testing::AssertionSuccess();
}

}  // namespace

::testing::AssertionResult OpensslBin(std::string* path) {
  return ToolFromEnv("OPENSSL_BIN", "openssl", path);
}

::testing::AssertionResult CurlBin(std::string* path) {
  return ToolFromEnv("CURL_BIN", "curl", path);
}

::testing::AssertionResult MakePki(const std::string& dir, TestPki* pki) {
  std::string openssl;
  if (::testing::AssertionResult ok = OpensslBin(&openssl); !ok) {
    return ok;
  }
  return PkiMaker(openssl, dir).Make(pki);
}

::testing::AssertionResult SharedPki(const TestPki** pki) {
  static std::once_flag once;
  static std::unique_ptr<TempDir> dir;
  static TestPki shared;
  static ::testing::AssertionResult made = ::testing::AssertionFailure();
  std::call_once(once, [] {
    dir = std::make_unique<TempDir>();
    made = dir->path().empty() ? ::testing::AssertionFailure() << "no temporary directory"
                               : MakePki(dir->path(), &shared);
  });
  *pki = &shared;
  return made;
}

std::string FirstPemBlock(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  size_t begin = text.find("-----BEGIN ");
  size_t end = text.find("-----END ", begin == std::string::npos ? 0 : begin);
  if (begin == std::string::npos || end == std::string::npos) {
    return "";
  }
  size_t eol = text.find('\n', end);
  return text.substr(begin, (eol == std::string::npos ? text.size() : eol + 1) - begin);
}

}  // namespace ringway::integration
