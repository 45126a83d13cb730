#include "control/access_log_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/access_log.h"
#include "ringway/log.h"

namespace ringway::control {

AccessLogFiles::~AccessLogFiles() {
  for (const auto& r : retired_) {
    ::close(r.second);
  }
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void AccessLogFiles::configure(const std::optional<config::AccessLog>& cfg) {
  if (!cfg) {
    if (!path_.empty()) {
      RW_INFO("access log off");
      path_.clear();
      publish(-1);
    }
    return;
  }
  if (cfg->path == path_) {
    return;  // the same file: kept open (a rotation is SIGUSR1's)
  }
  if (open_and_publish(cfg->path)) {
    path_ = cfg->path;
  }
}

void AccessLogFiles::reopen() {
  if (path_.empty()) {
    return;
  }
  if (open_and_publish(path_)) {
    RW_INFO("access log reopened path=%s", path_.c_str());
  }
}

bool AccessLogFiles::open_and_publish(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    RW_ERROR("access log: cannot open %s: %s (errno %d)%s", path.c_str(), strerror(errno), errno,
             fd_ >= 0 ? "; the current file stays in use" : "");
    return false;
  }
  publish(fd);
  return true;
}

void AccessLogFiles::publish(int fd) {
  if (fd_ >= 0) {
    retired_.emplace_back(generation_ + 1, fd_);
  }
  fd_ = fd;
  ++generation_;
  ctx_.access_log_file.store(proxy::access_log_file::pack(generation_, fd_),
                             std::memory_order_release);
  ctx_.wake_all();
  reclaim();
}

size_t AccessLogFiles::reclaim() {
  if (retired_.empty()) {
    return 0;
  }
  uint64_t oldest = UINT64_MAX;
  for (uint32_t s = 0; s < ctx_.access_log_gen.shards(); ++s) {
    oldest = std::min(oldest, ctx_.access_log_gen.at(s, 0).load(std::memory_order_acquire));
  }
  size_t kept = 0;
  for (const auto& r : retired_) {
    if (r.first <= oldest) {
      ::close(r.second);
    } else {
      retired_[kept++] = r;
    }
  }
  retired_.resize(kept);
  return kept;
}

}  // namespace ringway::control
