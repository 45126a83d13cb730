// libFuzzer target: backend responses (ResponseParser), split as the first byte says.
//
// Input: split byte (fuzz_common.h), mode byte (bit 0: the request was HEAD; bit 1: it asked
// for an upgrade; bit 2: small limits), then the bytes a backend sends; the end of the input
// is the backend closing (finish()). Checks the parser's contract (consumed bytes, views inside
// the input, framing and body counts, RW.52nn errors only) and that the outcome (heads, bodies,
// an error or not) does not depend on how the bytes were split.
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "request_driver.h"
#include "ringway/http.h"

namespace ringway::fuzz {
namespace {

void collect(void* ctx, const char* data, size_t len) {
  static_cast<std::string*>(ctx)->append(data, len);
}

struct Outcome {
  uint32_t head_count = 0, messages = 0;
  uint16_t status = 0;  // the last head's status
  std::string error_code, body;
  std::string heads;  // every reported head as text, in order
};

std::string head_digest(const http::ResponseHead& h) {
  std::string d = std::to_string(h.status) + ' ' + std::string(h.reason) + '\0';
  for (uint32_t i = 0; i < h.header_count; ++i) {
    d.append(h.headers[i].name).push_back(':');
    d.append(h.headers[i].value).push_back('\0');
  }
  d += std::to_string(h.content_length) + (h.chunked ? "c" : "") + (h.keep_alive ? "k" : "") +
       (h.no_body ? "n" : "") + (h.close_delimited ? "d" : "") + std::to_string(h.http_minor) +
       '\n';
  return d;
}

Outcome drive(const char* data, size_t size, uint8_t split_byte, uint8_t mode) {
  const bool head_request = (mode & 1) != 0;
  const bool upgrade_request = (mode & 2) != 0;
  http::ParserLimits limits;
  if ((mode & 4) != 0) {
    limits.max_header_bytes = 200;
    limits.max_headers = 6;
  }
  Outcome out;
  http::ResponseParser p(limits, http::BodySink{&out.body, collect});
  p.reset(head_request, upgrade_request);
  Splitter split(split_byte);
  size_t pos = 0;
  size_t received = size > 0 ? split.next(size) : 0;
  size_t message_body_start = 0;
  bool in_head = true;
  bool finished = false;  // finish() called: the backend closed
  const size_t max_steps = 4 * size + 64;
  for (size_t step = 0;; ++step) {
    FUZZ_CHECK(step < max_steps);
    const size_t avail = received - pos;
    http::FeedResult r;
    if (finished) {
      r = p.finish();
      FUZZ_CHECK(r.consumed == 0);
    } else {
      r = p.feed(data + pos, avail);
      FUZZ_CHECK(r.consumed <= avail);
      pos += r.consumed;
    }
    switch (r.event) {
      case http::Event::kNeedMore:
        if (finished) {
          return out;
        }
        FUZZ_CHECK(r.consumed == avail);
        if (received < size) {
          received += split.next(size - received);
        } else {
          finished = true;
        }
        continue;
      case http::Event::kHeadComplete: {
        FUZZ_CHECK(in_head);
        in_head = false;
        ++out.head_count;
        const http::ResponseHead& h = p.head();
        out.status = h.status;
        out.heads += head_digest(h);
        FUZZ_CHECK(h.status >= 100 && h.status <= 999);
        FUZZ_CHECK(h.status != 101 || upgrade_request);  // RW.5251
        FUZZ_CHECK(h.status >= 200 || h.status == 101);  // other 1xx are never reported
        FUZZ_CHECK(inside(h.reason, data, size));
        FUZZ_CHECK(h.header_count <= limits.max_headers);
        for (uint32_t i = 0; i < h.header_count; ++i) {
          FUZZ_CHECK(inside(h.headers[i].name, data, size));
          FUZZ_CHECK(inside(h.headers[i].value, data, size));
        }
        FUZZ_CHECK(h.content_length >= -1);
        FUZZ_CHECK(!(h.chunked && h.content_length >= 0));
        FUZZ_CHECK(!(h.no_body && h.close_delimited));
        if (head_request || h.status == 204 || h.status == 304) {
          FUZZ_CHECK(h.no_body);
        }
        // The client's head is written from it.
        char buf[16384];
        Writer w(buf, sizeof(buf));
        http::ClientResponse resp;
        resp.request_id = "0123456789abcdef";
        resp.content_length = h.chunked ? -1 : h.content_length;
        resp.chunked = h.chunked;
        resp.no_body = h.no_body;
        resp.keep_alive = h.keep_alive;
        http::write_client_head(h, resp, w);
        continue;
      }
      case http::Event::kMessageComplete: {
        FUZZ_CHECK(!in_head);
        const http::ResponseHead& h = p.head();
        const size_t body = out.body.size() - message_body_start;
        FUZZ_CHECK(p.body_bytes() == body);
        if (h.no_body) {
          FUZZ_CHECK(body == 0);
        } else if (h.content_length >= 0) {
          FUZZ_CHECK(body == static_cast<size_t>(h.content_length));
        }
        ++out.messages;
        if (finished || h.status == 101) {
          return out;  // the connection is done (closed, or another protocol)
        }
        p.reset(head_request, upgrade_request);
        in_head = true;
        message_body_start = out.body.size();
        continue;
      }
      case http::Event::kError: {
        const http::ParseError& e = p.error();
        FUZZ_CHECK(e.status == 502);  // not RW.5001: the driver keeps the contiguity contract
        FUZZ_CHECK(e.code.size() == 7 && e.code.substr(0, 5) == "RW.52");
        FUZZ_CHECK(!e.message.empty());
        out.error_code = e.code;
        return out;
      }
    }
  }
}

}  // namespace
}  // namespace ringway::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  const std::vector<char> msg(data + 2, data + size);
  const auto split = ringway::fuzz::drive(msg.data(), msg.size(), data[0], data[1]);
  const auto whole = ringway::fuzz::drive(msg.data(), msg.size(), 0, data[1]);
  // As request_driver.h's same_outcome: error codes may differ between two faults.
  FUZZ_CHECK(split.head_count == whole.head_count && split.messages == whole.messages);
  FUZZ_CHECK(split.heads == whole.heads);
  FUZZ_CHECK(split.status == whole.status);
  FUZZ_CHECK(split.error_code.empty() == whole.error_code.empty());
  FUZZ_CHECK(split.error_code.empty() ? split.body == whole.body
                                      : ringway::fuzz::prefix_related(split.body, whole.body));
  return 0;
}
