#include "health/probe.h"

#include <cerrno>
#include <cstring>

namespace ringway::health::internal {

std::string build_request(const Target& t) {
  if (t.protocol == Protocol::kTcp) {
    return "";
  }
  std::string r = t.method == HttpMethod::kHead ? "HEAD " : "GET ";
  r += t.path;
  r += " HTTP/1.1\r\nHost: ";
  r += t.host;
  r += "\r\nConnection: close\r\nUser-Agent: ringway-health\r\n\r\n";
  return r;
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

StatusLine parse_status_line(std::string_view data, uint16_t* status) {
  size_t eol = data.find('\n');
  if (eol == std::string_view::npos) {
    return StatusLine::kIncomplete;
  }
  std::string_view line = data.substr(0, eol);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  // "HTTP/" DIGIT "." DIGIT SP 3DIGIT [SP reason]
  constexpr std::string_view kPrefix = "HTTP/";
  if (line.size() < 12 || line.substr(0, kPrefix.size()) != kPrefix || !is_digit(line[5]) ||
      line[6] != '.' || !is_digit(line[7]) || line[8] != ' ') {
    return StatusLine::kBad;
  }
  if (!is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) ||
      (line.size() > 12 && line[12] != ' ') || line[9] == '0') {
    return StatusLine::kBad;
  }
  *status = static_cast<uint16_t>((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));
  return StatusLine::kOk;
}

bool status_accepted(const std::vector<std::pair<uint16_t, uint16_t>>& codes, uint16_t status) {
  for (const auto& [lo, hi] : codes) {
    if (status >= lo && status <= hi) {
      return true;
    }
  }
  return false;
}

std::string errno_reason(int negative_errno) {
  switch (-negative_errno) {
    case ECANCELED:
    case ETIME:
    case ETIMEDOUT:
      return "timeout";
    case ECONNREFUSED:
      return "refused";
    case ECONNRESET:
    case EPIPE:
      return "reset";
    default:
      return std::string("error: ") + strerror(-negative_errno);
  }
}

}  // namespace ringway::health::internal
