// The gateway process: shards plus the control thread (signals, reload, drain).
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
// Call on the main thread before any other thread exists: it reads the affinity mask the
// process was started with, pins shard i to the mask's i-th CPU, and names the calling
// thread rw-control (it runs the control loop) and the shard threads rw-shard-<i>.
int serve(const ServeOptions& options, config::Config initial);

}  // namespace ringway
