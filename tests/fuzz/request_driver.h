// Feeds one input to a RequestParser the way the client side does (tests/fuzz): bytes arrive
// in pieces appended to one buffer, each feed() gets the unconsumed bytes received so far,
// kHeadComplete is followed by a feed of the rest (even empty), kMessageComplete by reset()
// (pipelining), and the end of the input is the client closing (finish()). Checks the
// parser's contract at every step; `on_head` sees each complete head while its bytes are in
// place.
#pragma once

#include <cstring>
#include <string>

#include "fuzz_common.h"
#include "ringway/http.h"

namespace ringway::fuzz {

struct RequestOutcome {
  uint32_t messages = 0;
  uint16_t error_status = 0;  // 0: no error
  std::string error_code;
  std::string body;   // de-chunked bytes of every message, in order
  std::string heads;  // what each complete message's head said (head_digest), in order
  // For the report of a mismatch.
  void print(const char* label) const {
    std::fprintf(stderr, "%s: %u messages, error %u %s, %zu body bytes\n", label, messages,
                 error_status, error_code.c_str(), body.size());
  }
};

// One body is the start of the other.
inline bool prefix_related(std::string_view a, std::string_view b) {
  return a.size() <= b.size() ? b.substr(0, a.size()) == a : a.substr(0, b.size()) == b;
}

// Whether two outcomes of the same bytes, received in different pieces, agree: the same
// messages with the same heads, and an error in both or in neither. Not the same error code: a
// message with two faults (a header name past max_headers that also holds a bad byte) may report
// either, depending on where a piece ended. After an error the body bytes delivered may differ (a
// body is refused when it crosses the limit, which one large piece does at once) but one is
// the start of the other; without an error they are equal.
inline bool same_outcome(const RequestOutcome& a, const RequestOutcome& b) {
  if (a.messages != b.messages || a.heads != b.heads ||
      (a.error_status != 0) != (b.error_status != 0)) {
    return false;
  }
  return a.error_status == 0 ? a.body == b.body : prefix_related(a.body, b.body);
}

// Aborts when two outcomes of the same bytes disagree, after printing both.
inline void check_same(const RequestOutcome& split, const RequestOutcome& whole) {
  if (!same_outcome(split, whole)) {
    split.print("split");
    whole.print("whole");
    FUZZ_CHECK(same_outcome(split, whole));
  }
}

inline void collect_body(void* ctx, const char* data, size_t len) {
  static_cast<std::string*>(ctx)->append(data, len);
}

// The parsed head as text: every field a caller reads, so two parses can be compared.
inline std::string head_digest(const http::RequestHead& h) {
  std::string d;
  for (std::string_view v : {h.method_name, h.target, h.path, h.query, h.host, h.upgrade}) {
    d.append(v).push_back('\0');
  }
  for (uint32_t i = 0; i < h.header_count; ++i) {
    d.append(h.headers[i].name).push_back(':');
    d.append(h.headers[i].value).push_back('\0');
  }
  d += std::to_string(h.content_length) + (h.chunked ? "c" : "") + (h.keep_alive ? "k" : "") +
       (h.expect_continue ? "e" : "") + std::to_string(h.http_minor) + '\n';
  return d;
}

inline bool valid_status(uint16_t s) {
  return s == 400 || s == 413 || s == 414 || s == 431 || s == 500 || s == 501 || s == 505;
}

template <typename OnHead>
RequestOutcome drive_request(const char* data, size_t size, uint8_t split_byte,
                             const http::ParserLimits& limits, OnHead&& on_head) {
  RequestOutcome out;
  http::RequestParser p(limits, http::BodySink{&out.body, collect_body});
  Splitter split(split_byte);
  size_t pos = 0;
  size_t received = size > 0 ? split.next(size) : 0;
  size_t message_body_start = 0;  // out.body.size() when the current message began
  std::string head;               // head_digest of the current message
  bool in_head = true;            // no kHeadComplete yet for the current message
  // Every step consumes bytes, receives bytes or changes the parser's state: a loop that
  // runs longer than this is a hang.
  const size_t max_steps = 4 * size + 64;
  for (size_t step = 0;; ++step) {
    FUZZ_CHECK(step < max_steps);
    const size_t avail = received - pos;
    const http::FeedResult r = p.feed(data + pos, avail);
    FUZZ_CHECK(r.consumed <= avail);
    pos += r.consumed;
    switch (r.event) {
      case http::Event::kNeedMore:
        FUZZ_CHECK(r.consumed == avail);  // "all input consumed"
        if (received < size) {
          received += split.next(size - received);
          continue;
        }
        if (const http::FeedResult f = p.finish(); f.event == http::Event::kError) {
          out.error_status = p.error().status;
          out.error_code = p.error().code;
          FUZZ_CHECK(p.error().status == 400 && p.error().code == "RW.4013");
        } else {
          FUZZ_CHECK(f.event == http::Event::kNeedMore);
        }
        return out;
      case http::Event::kHeadComplete: {
        FUZZ_CHECK(in_head);
        in_head = false;
        const http::RequestHead& h = p.head();
        FUZZ_CHECK(h.header_count <= limits.max_headers && h.header_count <= http::kMaxHeadersCap);
        FUZZ_CHECK(h.header_count == 0 || h.headers != nullptr);
        FUZZ_CHECK(inside(h.target, data, size));
        // An absolute-form target without a path has the static path "/".
        FUZZ_CHECK(inside(h.path, data, size) || h.path == "/");
        FUZZ_CHECK(inside(h.query, data, size) && inside(h.host, data, size));
        FUZZ_CHECK(inside(h.upgrade, data, size));
        FUZZ_CHECK(!h.target.empty() && !h.path.empty() && !h.method_name.empty());
        for (uint32_t i = 0; i < h.header_count; ++i) {
          FUZZ_CHECK(inside(h.headers[i].name, data, size));
          FUZZ_CHECK(inside(h.headers[i].value, data, size));
          FUZZ_CHECK(!h.headers[i].name.empty());
        }
        FUZZ_CHECK(h.content_length >= -1);
        FUZZ_CHECK(!(h.chunked && h.content_length >= 0));                            // RW.4001
        FUZZ_CHECK(h.content_length <= static_cast<int64_t>(limits.max_body_bytes));  // RW.4130
        FUZZ_CHECK(h.http_major == 1 && h.http_minor <= 1);                           // RW.5051
        FUZZ_CHECK(p.head_bytes() <= limits.max_header_bytes + 4);
        head = head_digest(h);
        on_head(h);
        continue;
      }
      case http::Event::kMessageComplete: {
        FUZZ_CHECK(!in_head);
        const http::RequestHead& h = p.head();
        const size_t body = out.body.size() - message_body_start;
        FUZZ_CHECK(p.body_bytes() == body);
        FUZZ_CHECK(body <= limits.max_body_bytes);
        if (h.content_length >= 0) {
          FUZZ_CHECK(body == static_cast<size_t>(h.content_length));
        } else if (!h.chunked) {
          FUZZ_CHECK(body == 0);
        }
        ++out.messages;
        out.heads += head;
        p.reset();
        in_head = true;
        message_body_start = out.body.size();
        continue;
      }
      case http::Event::kError: {
        const http::ParseError& e = p.error();
        FUZZ_CHECK(valid_status(e.status));
        FUZZ_CHECK(e.code.size() == 7 && e.code.substr(0, 3) == "RW.");
        FUZZ_CHECK(!e.message.empty());
        FUZZ_CHECK(e.status != 500);  // RW.5001: the driver keeps the contiguity contract
        // Stays in error.
        FUZZ_CHECK(p.feed(data + pos, received - pos).event == http::Event::kError);
        out.error_status = e.status;
        out.error_code = e.code;
        return out;
      }
    }
  }
}

}  // namespace ringway::fuzz
