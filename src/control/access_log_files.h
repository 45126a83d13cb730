// The access log file of the node: opened by the control thread (start, reload with another
// path, SIGUSR1 reopen after a log rotation), published to the shards through
// ShardContext::access_log_file, and closed once no shard writes to it any more.
//
// Publishing: each new file gets the next generation; the shards adopt it at their next
// flush and store that generation in their access_log_gen cell. A replaced fd is kept until
// every shard's cell reached the generation that replaced it (a shard that ended stores
// UINT64_MAX), then closed by reclaim(). A file that cannot be opened is logged with its
// path and errno, and the one in use stays.
//
// Thread affinity: control thread only. Destroy after the shards have been joined.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/shard_core.h"
#include "ringway/config.h"

namespace ringway::control {

class AccessLogFiles {
 public:
  explicit AccessLogFiles(proxy::ShardContext& ctx) : ctx_(ctx) {}
  ~AccessLogFiles();
  AccessLogFiles(const AccessLogFiles&) = delete;
  AccessLogFiles& operator=(const AccessLogFiles&) = delete;

  // The configuration's access log (install and reload): a new or changed path is opened
  // and published; none switches the log off.
  void configure(const std::optional<config::AccessLog>& cfg);
  // SIGUSR1: opens the path again (a rotated file was renamed away) and publishes it.
  void reopen();
  // Closes replaced fds no shard uses any more; returns how many still wait.
  size_t reclaim();

 private:
  // Opens `path` (O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, 0640); false (logged) on failure.
  bool open_and_publish(const std::string& path);
  void publish(int fd);

  proxy::ShardContext& ctx_;
  std::string path_;  // empty: no access log
  int fd_ = -1;
  uint32_t generation_ = 0;
  std::vector<std::pair<uint32_t, int>> retired_;  // (generation that replaced it, fd)
};

}  // namespace ringway::control
