// tls module: contexts from files, SNI selection, the ClientHello reader, and two Streams
// talking to each other through memory (handshake, data, resumption, verification).
// Certificates are made by the openssl CLI in a temporary directory.

// wolfSSL's options.h comes before any other wolfSSL header (its build settings).
#include <wolfssl/options.h>

#include <unistd.h>
#include <wolfssl/ssl.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "ringway/tls.h"

namespace ringway::tls {
namespace {

class Certs : public ::testing::Environment {
 public:
  static std::string dir;
  void SetUp() override {
    char tmpl[] = "/tmp/ringway-unit-tls-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    std::string script = "set -e; cd " + dir + R"(
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"; }
key ca; openssl req -x509 -new -key ca.key -subj /CN=unit-ca -days 30 -out ca.crt
key other; openssl req -x509 -new -key other.key -subj /CN=other-ca -days 30 -out other.crt
for n in a.test b.test star; do
  key $n
  cn=$n; [ $n = star ] && cn='*.wild.test'
  openssl req -new -key $n.key -subj "/CN=$cn" -out $n.csr
  printf 'subjectAltName=DNS:%s,IP:127.0.0.1\n' "$cn" > $n.ext
  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -extfile $n.ext -out $n.crt 2>/dev/null
done
printf 'not a pem\n' > junk.pem
)";
    ASSERT_EQ(std::system(("bash -c '" + escape(script) + "' >/dev/null 2>&1").c_str()), 0);
  }
  void TearDown() override { std::system(("rm -rf " + dir).c_str()); }

 private:
  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out;
  }
};
std::string Certs::dir;

std::string f(const std::string& name) { return Certs::dir + "/" + name; }

config::ListenerTls listener(const std::string& name = "a.test") {
  config::ListenerTls t;
  t.certificate = f(name + ".crt");
  t.private_key = f(name + ".key");
  return t;
}

config::TlsFiles trust(const std::string& ca = "ca.crt") {
  config::TlsFiles t;
  t.ca = f(ca);
  return t;
}

// Moves what `from` has to send into `to` and lets `to` process it.
void deliver(Stream& from, Stream& to) {
  std::string bytes(from.out_data(), from.out_size());
  from.out_sent(static_cast<uint32_t>(bytes.size()));
  if (!bytes.empty()) {
    to.input(bytes.data(), static_cast<uint32_t>(bytes.size()));
    if (!to.handshake_done()) {
      to.handshake();
    }
    to.keep_rest();
  }
}

// Runs both handshakes to the end (or a failure); true when both are done.
bool handshake(Stream& client, Stream& server) {
  client.handshake();
  for (int i = 0; i < 10 && !(client.handshake_done() && server.handshake_done()); ++i) {
    deliver(client, server);
    if (server.handshake() == Stream::Step::kFailed) {
      deliver(server, client);
      return false;
    }
    deliver(server, client);
    if (client.handshake() == Stream::Step::kFailed) {
      return false;
    }
  }
  deliver(client, server);
  return client.handshake_done() && server.handshake_done();
}

// Sends `data` from `a` to `b` and returns what `b` read.
std::string transfer(Stream& a, Stream& b, const std::string& data) {
  std::string got;
  size_t off = 0;
  std::string buf(70000, '\0');
  while (off < data.size() || a.out_size() > 0) {
    if (a.out_size() == 0) {
      int n = a.write(data.data() + off, static_cast<uint32_t>(data.size() - off));
      EXPECT_GT(n, 0);
      off += static_cast<size_t>(n);
    }
    std::string bytes(a.out_data(), a.out_size());
    a.out_sent(a.out_size());
    // Deliver in uneven pieces: records split across receives.
    for (size_t p = 0; p < bytes.size(); p += 1000) {
      size_t len = std::min<size_t>(1000, bytes.size() - p);
      b.input(bytes.data() + p, static_cast<uint32_t>(len));
      for (;;) {
        int n = b.read(buf.data(), 3000);  // smaller than a record: plaintext waits in wolfSSL
        if (n <= 0) {
          break;
        }
        got.append(buf.data(), static_cast<size_t>(n));
      }
      b.keep_rest();
    }
  }
  return got;
}

struct Pair {
  core::BufPool pool;
  ServerContext server_ctx{listener(), 1};
  ClientContext client_ctx{trust(), 1};
  Stream client{pool};
  Stream server{pool};
};

TEST(TlsStream, HandshakeAndDataBothWays) {
  Pair p;
  ASSERT_TRUE(p.server.start_server(p.server_ctx.select(0, "")));
  ASSERT_TRUE(p.client.start_client(p.client_ctx.ctx(0), "a.test", nullptr));
  ASSERT_TRUE(handshake(p.client, p.server)) << p.client.error() << " / " << p.server.error();
  EXPECT_STREQ(wolfSSL_get_version(p.server.ssl()), "TLSv1.3");
  std::string up(1 << 20, '\0');
  for (size_t i = 0; i < up.size(); ++i) {
    up[i] = static_cast<char>(i * 7 + i / 4096);
  }
  EXPECT_EQ(transfer(p.client, p.server, up), up);
  EXPECT_EQ(transfer(p.server, p.client, "HTTP/1.1 200 OK\r\n\r\n"), "HTTP/1.1 200 OK\r\n\r\n");
  p.server.shutdown();
  deliver(p.server, p.client);
  char b[16];
  EXPECT_EQ(p.client.read(b, sizeof(b)), -1);  // close_notify
}

TEST(TlsStream, ReadStopsForRoomAndSaysSo) {
  Pair p;
  ASSERT_TRUE(p.server.start_server(p.server_ctx.select(0, "")));
  ASSERT_TRUE(p.client.start_client(p.client_ctx.ctx(0), "a.test", nullptr));
  ASSERT_TRUE(handshake(p.client, p.server));
  ASSERT_EQ(p.client.write("0123456789", 10), 10);
  deliver(p.client, p.server);
  std::string bytes(p.client.out_data(), p.client.out_size());
  char b[4];
  p.server.input(nullptr, 0);
  EXPECT_EQ(p.server.read(b, 4), 4);
  EXPECT_TRUE(p.server.has_input());
  EXPECT_EQ(p.server.read(b, 4), 4);
  EXPECT_EQ(p.server.read(b, 4), 2);
  EXPECT_FALSE(p.server.has_input());
}

// A backend receive is up to 64 KiB: behind records kept from the last one (the reader had
// no room for them), it needs more than the Stream's usual buffer. Nothing may be lost.
TEST(TlsStream, LargeReceiveBehindKeptRecords) {
  Pair p;
  ASSERT_TRUE(p.server.start_server(p.server_ctx.select(0, "")));
  ASSERT_TRUE(p.client.start_client(p.client_ctx.ctx(0), "a.test", nullptr));
  ASSERT_TRUE(handshake(p.client, p.server));
  std::string data(120000, 'x');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>('a' + i % 23);
  }
  std::string wire[2];
  for (int half = 0; half < 2; ++half) {
    ASSERT_EQ(p.client.write(data.data() + half * 60000, 60000), 60000);
    wire[half].assign(p.client.out_data(), p.client.out_size());
    p.client.out_sent(p.client.out_size());
  }
  std::string got;
  std::string buf(200000, '\0');
  p.server.input(wire[0].data(), static_cast<uint32_t>(wire[0].size()));
  int n = p.server.read(buf.data(), 100);  // no room: most records stay unread
  ASSERT_EQ(n, 100);
  got.append(buf.data(), 100);
  p.server.keep_rest();
  p.server.input(wire[1].data(), static_cast<uint32_t>(wire[1].size()));
  while ((n = p.server.read(buf.data(), static_cast<uint32_t>(buf.size()))) > 0) {
    got.append(buf.data(), static_cast<size_t>(n));
  }
  p.server.keep_rest();
  EXPECT_EQ(got, data);
}

TEST(TlsStream, SessionIsResumed) {
  Pair p;
  ASSERT_TRUE(p.server.start_server(p.server_ctx.select(0, "")));
  ASSERT_TRUE(p.client.start_client(p.client_ctx.ctx(0), "a.test", nullptr));
  ASSERT_TRUE(handshake(p.client, p.server));
  // The TLS 1.3 ticket comes after the handshake: the client reads it with the first data.
  EXPECT_EQ(transfer(p.server, p.client, "hello"), "hello");
  WOLFSSL_SESSION* s = p.client.session();
  ASSERT_NE(s, nullptr);
  Stream c2{p.pool};
  Stream s2{p.pool};
  ASSERT_TRUE(s2.start_server(p.server_ctx.select(0, "")));
  ASSERT_TRUE(c2.start_client(p.client_ctx.ctx(0), "a.test", s));
  wolfSSL_SESSION_free(s);
  ASSERT_TRUE(handshake(c2, s2)) << c2.error();
  EXPECT_TRUE(c2.resumed());
  EXPECT_TRUE(s2.resumed());
}

TEST(TlsStream, Tls12SessionTicketIsResumed) {
  Pair p;
  WOLFSSL_CTX* tls12 = wolfSSL_CTX_new(wolfTLSv1_2_client_method());
  ASSERT_NE(tls12, nullptr);
  wolfSSL_CTX_load_verify_locations(tls12, f("ca.crt").c_str(), nullptr);
  ASSERT_TRUE(p.server.start_server(p.server_ctx.select(0, "")));
  ASSERT_TRUE(p.client.start_client(tls12, "a.test", nullptr));
  wolfSSL_UseSessionTicket(p.client.ssl());
  ASSERT_TRUE(handshake(p.client, p.server)) << p.client.error() << " / " << p.server.error();
  EXPECT_STREQ(wolfSSL_get_version(p.server.ssl()), "TLSv1.2");
  WOLFSSL_SESSION* s = p.client.session();
  ASSERT_NE(s, nullptr);
  Stream c2{p.pool};
  Stream s2{p.pool};
  ASSERT_TRUE(s2.start_server(p.server_ctx.select(0, "")));
  ASSERT_TRUE(c2.start_client(tls12, "a.test", s));
  wolfSSL_UseSessionTicket(c2.ssl());
  wolfSSL_SESSION_free(s);
  ASSERT_TRUE(handshake(c2, s2)) << c2.error();
  EXPECT_TRUE(c2.resumed());
  EXPECT_TRUE(s2.resumed());
  c2.reset();
  p.client.reset();
  wolfSSL_CTX_free(tls12);
}

TEST(TlsStream, WrongNameFailsWithAReason) {
  Pair p;
  ASSERT_TRUE(p.server.start_server(p.server_ctx.select(0, "")));
  ASSERT_TRUE(p.client.start_client(p.client_ctx.ctx(0), "b.test", nullptr));
  EXPECT_FALSE(handshake(p.client, p.server));
  EXPECT_NE(p.client.error().find("name mismatch"), std::string::npos) << p.client.error();
}

TEST(TlsStream, UnknownCaFailsWithAReason) {
  core::BufPool pool;
  ServerContext server_ctx(listener(), 1);
  ClientContext client_ctx(trust("other.crt"), 1);
  Stream client{pool};
  Stream server{pool};
  ASSERT_TRUE(server.start_server(server_ctx.select(0, "")));
  ASSERT_TRUE(client.start_client(client_ctx.ctx(0), "a.test", nullptr));
  EXPECT_FALSE(handshake(client, server));
  EXPECT_NE(client.error().find("unknown CA"), std::string::npos) << client.error();
}

TEST(TlsStream, ClientCertificateRequiredWhenClientCaIsSet) {
  core::BufPool pool;
  config::ListenerTls t = listener();
  t.client_ca = f("ca.crt");
  ServerContext server_ctx(t, 1);
  ClientContext anonymous(trust(), 1);
  config::TlsFiles with_cert = trust();
  with_cert.certificate = f("b.test.crt");
  with_cert.private_key = f("b.test.key");
  ClientContext presenting(with_cert, 1);
  {
    Stream client{pool};
    Stream server{pool};
    ASSERT_TRUE(server.start_server(server_ctx.select(0, "")));
    ASSERT_TRUE(client.start_client(anonymous.ctx(0), "a.test", nullptr));
    EXPECT_FALSE(handshake(client, server) && transfer(client, server, "x") == "x");
  }
  Stream client{pool};
  Stream server{pool};
  ASSERT_TRUE(server.start_server(server_ctx.select(0, "")));
  ASSERT_TRUE(client.start_client(presenting.ctx(0), "a.test", nullptr));
  ASSERT_TRUE(handshake(client, server)) << server.error();
  EXPECT_EQ(transfer(client, server, "x"), "x");
}

TEST(TlsContext, SniPicksExactThenWildcardThenDefault) {
  config::ListenerTls t = listener();
  t.sni.push_back({"b.test", f("b.test.crt"), f("b.test.key")});
  t.sni.push_back({"*.wild.test", f("star.crt"), f("star.key")});
  ServerContext ctx(t, 2);
  WOLFSSL_CTX* def = ctx.select(1, "");
  EXPECT_EQ(ctx.select(1, "unknown.test"), def);
  EXPECT_NE(ctx.select(1, "b.test"), def);
  EXPECT_EQ(ctx.select(1, "B.TEST"), ctx.select(1, "b.test"));
  EXPECT_NE(ctx.select(1, "x.wild.test"), def);
  EXPECT_NE(ctx.select(1, "x.wild.test"), ctx.select(1, "b.test"));
  EXPECT_EQ(ctx.select(1, "a.b.wild.test"), def);  // a wildcard covers one label
  EXPECT_EQ(ctx.select(1, "wild.test"), def);
  EXPECT_NE(ctx.select(0, "b.test"), ctx.select(1, "b.test"));  // one context per shard
}

TEST(TlsHello, ReadsTheServerNameOfARealClientHello) {
  core::BufPool pool;
  ClientContext client_ctx(trust(), 1);
  Stream client{pool};
  ASSERT_TRUE(client.start_client(client_ctx.ctx(0), "B.Test", nullptr));
  client.handshake();
  std::string hello(client.out_data(), client.out_size());
  std::string_view name;
  ASSERT_EQ(client_hello_sni(hello.data(), static_cast<uint32_t>(hello.size()), &name),
            Hello::kName);
  EXPECT_EQ(name, "B.Test");
  for (size_t cut : {size_t{0}, size_t{3}, size_t{5}, hello.size() / 2, hello.size() - 1}) {
    EXPECT_EQ(client_hello_sni(hello.data(), static_cast<uint32_t>(cut), &name), Hello::kIncomplete)
        << cut;
  }
  std::string plain = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(client_hello_sni(plain.data(), static_cast<uint32_t>(plain.size()), &name),
            Hello::kNone);
  // Every truncation of the body inside a complete-looking record is rejected safely.
  for (size_t cut = 6; cut < hello.size(); cut += 7) {
    std::string bad = hello.substr(0, cut);
    uint32_t len = static_cast<uint32_t>(cut - 5);
    bad[3] = static_cast<char>(len >> 8);
    bad[4] = static_cast<char>(len & 0xff);
    client_hello_sni(bad.data(), static_cast<uint32_t>(bad.size()), &name);
  }
}

TEST(TlsFiles, ErrorsNameTheMember) {
  config::ListenerTls t = listener();
  t.certificate = f("missing.crt");
  auto e = check_listener(t);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "certificate");
  EXPECT_NE(e->message.find("No such file"), std::string::npos);
  t = listener();
  t.private_key = f("b.test.key");
  e = check_listener(t);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "private_key");
  EXPECT_NE(e->message.find("does not match"), std::string::npos) << e->message;
  t = listener();
  t.sni.push_back({"b.test", f("junk.pem"), f("b.test.key")});
  e = check_listener(t);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "sni[0].certificate");
  t = listener();
  t.client_ca = f("junk.pem");
  e = check_listener(t);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "client_ca");
  EXPECT_FALSE(check_listener(listener()));
  e = check_client(trust("junk.pem"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "ca");
  EXPECT_FALSE(check_client(trust()));
}

}  // namespace
}  // namespace ringway::tls

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new ringway::tls::Certs());
  return RUN_ALL_TESTS();
}
