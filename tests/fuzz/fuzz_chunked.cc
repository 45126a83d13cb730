// libFuzzer target: the chunked decoder, through RequestParser and its BodySink.
//
// Input: split byte (fuzz_common.h), limits byte (bit 0: max_body_bytes 64, so RW.4131 is
// reachable), then the bytes after a fixed chunked POST head: chunk size lines, extensions,
// data, trailers, and whatever follows (a pipelined request). Checks, besides the parser's
// contract (request_driver.h): the de-chunked body and the outcome do not depend on how the
// bytes were split (same_outcome), and a body that was accepted re-parses from a plain
// Content-Length request to the same bytes.
#include <string>
#include <vector>

#include "request_driver.h"

namespace {
constexpr std::string_view kHead =
    "POST /upload HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked\r\n\r\n";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringway;
  if (size < 2) {
    return 0;
  }
  http::ParserLimits limits;
  if ((data[1] & 1) != 0) {
    limits.max_body_bytes = 64;
  }
  std::vector<char> msg(kHead.begin(), kHead.end());
  msg.insert(msg.end(), data + 2, data + size);
  auto noop = [](const http::RequestHead&) {};
  const fuzz::RequestOutcome split =
      fuzz::drive_request(msg.data(), msg.size(), data[0], limits, noop);
  const fuzz::RequestOutcome whole = fuzz::drive_request(msg.data(), msg.size(), 0, limits, noop);
  fuzz::check_same(split, whole);
  if (whole.messages == 1 && whole.error_status == 0) {
    // The same body framed by Content-Length comes out the same.
    std::string plain =
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(whole.body.size()) +
        "\r\n\r\n" + whole.body;
    const fuzz::RequestOutcome again =
        fuzz::drive_request(plain.data(), plain.size(), 0, limits, noop);
    FUZZ_CHECK(again.messages == 1 && again.error_status == 0 && again.body == whole.body);
  }
  return 0;
}
