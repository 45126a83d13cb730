#include "control/systemd.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace ringway::control {

void notify_systemd(const char* state) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') {
    return;
  }
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  size_t n = strnlen(path, sizeof(un.sun_path) - 1);
  memcpy(un.sun_path, path, n);
  if (un.sun_path[0] == '@') {
    un.sun_path[0] = '\0';  // abstract socket
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return;
  }
  sendto(fd, state, strlen(state), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&un),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n));
  ::close(fd);
}

}  // namespace ringway::control
