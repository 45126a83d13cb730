// The gateway process: shards plus the control thread (signals, reload, health, drain).
#pragma once

#include <cstdint>
#include <string>

#include "ringway/config.h"

namespace ringway {

struct ServeOptions {
  std::string config_path;
  uint32_t shards = 0;  // 0: from the config (0 there: CPUs of the start-up affinity mask)
  uint32_t drain_timeout_ms = 30000;
};

// Serves until SIGTERM/SIGINT and the drain that follows. Returns the process exit code.
// `initial` is the already validated configuration loaded from options.config_path.
// Call on the main thread before any other thread exists: it raises the open files limit,
// blocks SIGHUP/SIGTERM/SIGINT (every thread inherits that), then runs the control thread
// `rw-control` (src/control) and waits for it; the calling thread keeps its name, so the
// process stays `ringway`. The control thread starts with the affinity mask the process
// was started with and pins shard i (thread rw-shard-<i>) to the mask's i-th CPU.
int serve(const ServeOptions& options, config::Config initial);

}  // namespace ringway
