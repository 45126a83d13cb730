// Issue 3: requests llhttp may accept but a gateway must refuse with 400 (then close), and
// HTTP/2 prior knowledge. Limits (413/414/431) are in limits_test.cc.
#include "harness.h"

namespace ringway::integration {
namespace {

struct BadRequest {
  const char* name;
  std::string raw;
  friend void PrintTo(const BadRequest& r, std::ostream* os) { *os << r.name; }
};

class HttpRejectsTest : public SharedStackTest<HttpRejectsTest>,
                        public ::testing::WithParamInterface<BadRequest> {
 public:
  static std::string Config(const Backend& b) {
    ConfigSpec spec;
    spec.apis = {PingApi(), StubApi(b)};
    return BuildConfig(spec);
  }
};

// A head to /stub/echo with `lines` ("Name: value\r\n" each) and `tail` after the head.
std::string Head(std::string_view method, std::string_view lines, std::string_view tail = "") {
  return std::string(method) + " /stub/echo HTTP/1.1\r\n" + std::string(lines) + "\r\n" +
         std::string(tail);
}

constexpr char kNulLines[] = "Host: a\r\nX-A: b\0c\r\n";

const BadRequest kBadRequests[] = {
    {"ContentLengthAndTransferEncoding",
     Head("POST", "Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")},
    {"DifferingDuplicateContentLength",
     Head("POST", "Host: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n", "hello!")},
    {"DifferingContentLengthList", Head("POST", "Host: a\r\nContent-Length: 5, 6\r\n", "hello!")},
    {"ObsFold", Head("GET", "Host: a\r\nX-A: b\r\n  folded\r\n")},
    {"SpaceBeforeColon", Head("GET", "Host: a\r\nX-A : b\r\n")},
    {"MissingHost", Head("GET", "X-A: b\r\n")},
    {"DuplicateHost", Head("GET", "Host: a\r\nHost: b\r\n")},
    {"NulInValue", Head("GET", std::string(kNulLines, sizeof(kNulLines) - 1))},
    {"CrInValue", Head("GET", "Host: a\r\nX-A: b\rc\r\n")},
    {"LfInValue", Head("GET", "Host: a\r\nX-A: b\nc\r\n")},
    {"TransferEncodingGzip", Head("POST", "Host: a\r\nTransfer-Encoding: gzip\r\n")},
    {"TransferEncodingGzipChunked",
     Head("POST", "Host: a\r\nTransfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n")},
    {"TransferEncodingIdentity", Head("POST", "Host: a\r\nTransfer-Encoding: identity\r\n")},
};

TEST_P(HttpRejectsTest, AnswersBadRequestAndCloses) {
  size_t before = backend().RequestCount("/stub/echo");
  EXPECT_TRUE(RejectedAndClosed(port(), GetParam().raw, 400));
  // The refused request never reached the backend.
  EXPECT_EQ(backend().RequestCount("/stub/echo"), before);
}

INSTANTIATE_TEST_SUITE_P(Requests, HttpRejectsTest, ::testing::ValuesIn(kBadRequests),
                         [](const auto& info) { return std::string(info.param.name); });

// Control: the same shapes, well formed, pass.
TEST_F(HttpRejectsTest, WellFormedRequestsPass) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send(Head("POST", "Host: a\r\nContent-Length: 5\r\nX-A: b c\r\n", "hello")));
  auto r = c.Read();
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(EchoHeader(*r, "x-a"), "b c");
  ASSERT_TRUE(c.Send(Head("POST", "Host: a\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")));
  EXPECT_TRUE(HasStatus(c.Read(), 200));
}

TEST_F(HttpRejectsTest, Http2PriorKnowledgeRefused) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send(std::string_view("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")));
  std::string got;
  EXPECT_TRUE(c.WaitClosed(3000, &got));
  ASSERT_FALSE(got.empty()) << "closed without any refusal";
  if (got.rfind("HTTP/1.", 0) == 0) {  // an HTTP/1.1 error response
    int status = std::atoi(got.c_str() + got.find(' ') + 1);
    EXPECT_TRUE(status == 400 || status == 505) << got;
  } else {  // an HTTP/2 GOAWAY frame: 9-byte header, type 0x7
    ASSERT_GE(got.size(), 9u);
    EXPECT_EQ(got[3], 0x07);
  }
}

}  // namespace
}  // namespace ringway::integration
