// The shards' listening sockets: one SO_REUSEPORT socket per listener per shard, so the
// kernel spreads connections over the shards and no fd is ever handed between threads.
//
// Thread affinity: control thread, at start-up (before the shard threads exist).
#pragma once

#include <cstdint>
#include <vector>

#include "ringway/config.h"

namespace ringway::control {

// fds[shard][listener], in configuration order. A listener whose port is 0 gets a port
// from the kernel for its first socket and the other shards' sockets bind that port. Logs
// `listening name=<name> address=<ip:port>` per listener. Throws std::runtime_error (socket,
// bind or listen failed; already opened sockets are then leaked to the exiting process).
std::vector<std::vector<int>> open_listeners(const config::Config& cfg, uint32_t shards);

// The admin listener's socket (one, served by the control thread), logged as
// `listening name=admin address=...`. Throws std::runtime_error.
int open_admin_listener(const config::Address& address);

}  // namespace ringway::control
