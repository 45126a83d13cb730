#include "control/process.h"

#include <pthread.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "ringway/log.h"

namespace ringway::control {

// Every connection holds an fd, and a soft limit of 1024 is common where the hard one allows
// far more (only the systemd unit, tools/ringway.service.in, sets LimitNOFILE).
void raise_open_files_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    RW_WARN("open files limit: getrlimit: %s", strerror(errno));
    return;
  }
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised{lim.rlim_max, lim.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      lim.rlim_cur = lim.rlim_max;
    } else {
      RW_WARN("cannot raise the open files limit from %llu to %llu: %s",
              static_cast<unsigned long long>(lim.rlim_cur),
              static_cast<unsigned long long>(lim.rlim_max), strerror(errno));
    }
  }
  RW_INFO("open files limit=%llu", static_cast<unsigned long long>(lim.rlim_cur));
}

sigset_t control_signals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGUSR1);  // reopen the access log (log rotation)
  return sigs;
}

void block_control_signals() {
  sigset_t sigs = control_signals();
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace ringway::control
