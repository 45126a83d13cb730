// Logging: one line per event on stderr, `<RFC3339 time> <level> <message>`.
//
// Thread-safe (one write(2) per line, lines never interleave). Meant for events, not
// for every request: a data-plane caller logs only errors and state changes.
#pragma once

#include <cstdarg>
#include <optional>
#include <string_view>

namespace ringway::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_level(Level level);
Level level();
std::optional<Level> parse_level(std::string_view name);
bool enabled(Level level);

// printf-style; the line is cut at 4 KiB.
void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace ringway::log

#define RW_LOG(lvl, ...)                                              \
  do {                                                                \
    if (::ringway::log::enabled(::ringway::log::Level::lvl)) {        \
      ::ringway::log::write(::ringway::log::Level::lvl, __VA_ARGS__); \
    }                                                                 \
  } while (0)
#define RW_DEBUG(...) RW_LOG(kDebug, __VA_ARGS__)
#define RW_INFO(...) RW_LOG(kInfo, __VA_ARGS__)
#define RW_WARN(...) RW_LOG(kWarn, __VA_ARGS__)
#define RW_ERROR(...) RW_LOG(kError, __VA_ARGS__)
