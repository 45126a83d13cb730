#include "response_parser.h"

#include <strings.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace ringway::load {
namespace {

bool HasToken(std::string_view value, std::string_view token) {
  for (size_t i = 0; i + token.size() <= value.size(); ++i) {
    if (strncasecmp(value.data() + i, token.data(), token.size()) == 0) {
      return true;
    }
  }
  return false;
}

bool NameIs(std::string_view name, std::string_view want) {
  return name.size() == want.size() && strncasecmp(name.data(), want.data(), want.size()) == 0;
}

}  // namespace

void ResponseParser::reset(bool head_request) {
  state_ = State::kStatusLine;
  head_request_ = head_request;
  chunked_ = has_length_ = close_ = http10_ = http10_keep_alive_ = false;
  status_ = 0;
  head_bytes_ = 0;
  remaining_ = 0;
  line_len_ = 0;
}

bool ResponseParser::take_line(const char* data, size_t len, size_t* pos, const char** line,
                               size_t* n) {
  const char* start = data + *pos;
  const size_t avail = len - *pos;
  const auto* nl = static_cast<const char*>(memchr(start, '\n', avail));
  const size_t part = nl != nullptr ? static_cast<size_t>(nl - start) : avail;
  *pos += nl != nullptr ? part + 1 : part;
  if (state_ != State::kChunkSize && state_ != State::kChunkDataEnd) {
    head_bytes_ += static_cast<uint32_t>(std::min<size_t>(part + 1, kMaxHead));
  }
  if (nl == nullptr || line_len_ != 0) {
    // Keep only a prefix of long lines: every field this parser reads fits in it.
    const size_t keep = std::min(part, kLineCap - line_len_);
    memcpy(line_ + line_len_, start, keep);
    line_len_ = static_cast<uint16_t>(line_len_ + keep);
    if (nl == nullptr) {
      return false;
    }
    *line = line_;
    *n = line_len_;
    line_len_ = 0;
  } else {
    *line = start;
    *n = part;
  }
  if (*n > 0 && (*line)[*n - 1] == '\r') {
    --*n;
  }
  return true;
}

bool ResponseParser::on_status_line(const char* line, size_t n) {
  // "HTTP/1.1 200 OK"
  if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ') {
    return false;
  }
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      return false;
    }
    status = status * 10 + (line[i] - '0');
  }
  status_ = status;
  http10_ = line[7] == '0';
  state_ = State::kHeaderLine;
  return true;
}

void ResponseParser::on_header_line(const char* line, size_t n) {
  const std::string_view l(line, n);
  const size_t colon = l.find(':');
  if (colon == std::string_view::npos) {
    return;
  }
  const std::string_view name = l.substr(0, colon);
  std::string_view value = l.substr(colon + 1);
  const size_t first = value.find_first_not_of(" \t");
  value = first == std::string_view::npos
              ? std::string_view()
              : value.substr(first, value.find_last_not_of(" \t") - first + 1);
  if (NameIs(name, "content-length")) {
    uint64_t v = 0;
    bool ok = !value.empty() && value.size() <= 18;
    for (char c : value) {
      ok = ok && c >= '0' && c <= '9';
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    has_length_ = ok;
    remaining_ = ok ? v : 0;
  } else if (NameIs(name, "transfer-encoding")) {
    chunked_ = HasToken(value, "chunked");
  } else if (NameIs(name, "connection")) {
    close_ = close_ || HasToken(value, "close");
    http10_keep_alive_ = HasToken(value, "keep-alive");
  }
}

ResponseParser::Result ResponseParser::end_of_head() {
  if (status_ >= 100 && status_ < 200 && status_ != 101) {
    reset(head_request_);  // interim response: the real one follows
    return Result::kNeedMore;
  }
  if (http10_ && !http10_keep_alive_) {
    close_ = true;
  }
  if (head_request_ || status_ == 204 || status_ == 304) {
    return Result::kComplete;
  }
  if (chunked_) {
    state_ = State::kChunkSize;
  } else if (has_length_) {
    state_ = State::kBody;
    return remaining_ == 0 ? Result::kComplete : Result::kNeedMore;
  } else {
    state_ = State::kUntilEof;
    close_ = true;
  }
  return Result::kNeedMore;
}

bool ResponseParser::on_chunk_size(const char* line, size_t n) {
  uint64_t size = 0;
  size_t digits = 0;
  for (; digits < n && digits < 16; ++digits) {
    const char c = line[digits];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
      d = (c | 0x20) - 'a' + 10;
    } else {
      break;
    }
    size = size * 16 + static_cast<uint64_t>(d);
  }
  if (digits == 0 || (digits < n && line[digits] != ';' && line[digits] != ' ')) {
    return false;
  }
  remaining_ = size;
  state_ = size == 0 ? State::kTrailer : State::kChunkData;
  return true;
}

ResponseParser::Result ResponseParser::feed(const char* data, size_t len, size_t* consumed) {
  size_t pos = 0;
  Result r = Result::kNeedMore;
  const char* line = nullptr;
  size_t n = 0;
  while (pos < len && r == Result::kNeedMore) {
    switch (state_) {
      case State::kBody:
      case State::kChunkData: {
        const uint64_t take = std::min<uint64_t>(remaining_, len - pos);
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          if (state_ == State::kBody) {
            r = Result::kComplete;
          } else {
            state_ = State::kChunkDataEnd;
          }
        }
        break;
      }
      case State::kUntilEof:
        pos = len;
        break;
      default:
        if (!take_line(data, len, &pos, &line, &n)) {
          break;
        }
        if (state_ == State::kStatusLine) {
          r = on_status_line(line, n) ? r : Result::kError;
        } else if (state_ == State::kHeaderLine) {
          if (n == 0) {
            r = end_of_head();
          } else {
            on_header_line(line, n);
          }
        } else if (state_ == State::kChunkSize) {
          r = on_chunk_size(line, n) ? r : Result::kError;
        } else if (state_ == State::kChunkDataEnd) {
          state_ = State::kChunkSize;
          r = n == 0 ? r : Result::kError;
        } else if (n == 0) {  // kTrailer: the empty line ends the message
          r = Result::kComplete;
        }
    }
    if (head_bytes_ >= kMaxHead) {
      r = Result::kError;
    }
  }
  *consumed = pos;
  return r;
}

ResponseParser::Result ResponseParser::eof() {
  if (state_ == State::kUntilEof) {
    return Result::kComplete;
  }
  return started() ? Result::kError : Result::kNeedMore;
}

}  // namespace ringway::load
