// The wire side of one check, without I/O: the http request text, the status-line parser and
// the failure reasons used in logs. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringway/health.h"

namespace ringway::health::internal {

// `METHOD path HTTP/1.1` with Host, Connection: close and User-Agent; empty for tcp.
std::string build_request(const Target& t);

enum class StatusLine : uint8_t { kIncomplete, kBad, kOk };

// Parses the status line at the start of `data` ("HTTP/1.1 200 OK\r\n"). kOk sets *status;
// kIncomplete means no line end yet. A bare "\n" ends the line too.
StatusLine parse_status_line(std::string_view data, uint16_t* status);

bool status_accepted(const std::vector<std::pair<uint16_t, uint16_t>>& codes, uint16_t status);

// The reason for a failed operation, from its negative errno: "timeout" (ECANCELED from a
// linked timeout, ETIME, ETIMEDOUT), "refused", "reset" (ECONNRESET, EPIPE), otherwise
// "error: <strerror>".
std::string errno_reason(int negative_errno);

}  // namespace ringway::health::internal
