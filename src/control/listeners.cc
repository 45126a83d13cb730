#include "control/listeners.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "ringway/log.h"

namespace ringway::control {
namespace {

// Listener hosts are IP literals (the loader checks), so this never queries DNS.
sockaddr_storage to_sockaddr(const config::Address& a, socklen_t* len) {
  sockaddr_storage ss{};
  std::string why;
  if (!config::resolve_address(a.host, a.port, &ss, len, &why)) {
    throw std::runtime_error("listener address: " + why);
  }
  return ss;
}

// One SO_REUSEPORT socket bound to `ss` (whose port may be 0: the caller then binds the
// other shards' sockets to the port the first one got).
int open_listener(sockaddr_storage& ss, socklen_t len) {
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error(std::string("socket: ") + strerror(errno));
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // inherited by accepted
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 4096) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string("bind/listen: ") + strerror(err));
  }
  socklen_t l = len;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &l);
  return fd;
}

std::string address_text(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(s6->sin6_port));
  }
  const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
  return std::string(ip) + ":" + std::to_string(ntohs(s4->sin_port));
}

}  // namespace

std::vector<std::vector<int>> open_listeners(const config::Config& cfg, uint32_t shards) {
  std::vector<std::vector<int>> fds(shards);
  for (const auto& l : cfg.listeners) {
    socklen_t len = 0;
    sockaddr_storage ss = to_sockaddr(l.address, &len);
    for (uint32_t s = 0; s < shards; ++s) {
      fds[s].push_back(open_listener(ss, len));  // ss now carries the bound port
    }
    RW_INFO("listening name=%s address=%s", l.name.c_str(), address_text(ss).c_str());
  }
  return fds;
}

int open_admin_listener(const config::Address& address) {
  socklen_t len = 0;
  sockaddr_storage ss = to_sockaddr(address, &len);
  const int fd = open_listener(ss, len);
  RW_INFO("listening name=admin address=%s", address_text(ss).c_str());
  return fd;
}

}  // namespace ringway::control
