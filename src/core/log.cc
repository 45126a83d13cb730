#include "ringway/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

namespace ringway::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

constexpr const char* kNames[] = {"debug", "info", "warn", "error"};

}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

Level level() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

bool enabled(Level lvl) { return static_cast<int>(lvl) >= g_level.load(std::memory_order_relaxed); }

std::optional<Level> parse_level(std::string_view name) {
  for (int i = 0; i < 4; ++i) {
    if (name == kNames[i]) {
      return static_cast<Level>(i);
    }
  }
  return std::nullopt;
}

void write(Level lvl, const char* fmt, ...) {
  char line[4096];
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm utc;
  gmtime_r(&tv.tv_sec, &utc);
  size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &utc);
  int w = snprintf(line + n, sizeof(line) - n, ".%03dZ %s ", static_cast<int>(tv.tv_usec / 1000),
                   kNames[static_cast<int>(lvl)]);
  n += static_cast<size_t>(w);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
  va_end(ap);
  n = m < 0 ? n : std::min(sizeof(line) - 2, n + static_cast<size_t>(m));
  line[n++] = '\n';
  // One write per line: POSIX keeps writes to a pipe up to PIPE_BUF atomic.
  ssize_t rc = ::write(2, line, n);
  (void)rc;
}

}  // namespace ringway::log
