// sh: source-address hashing. The key is the client's IP address (not its port), so one
// client sticks to one member while that member is available; the member is chosen by
// weighted rendezvous (hash.cc). Any thread for the key; shard thread for the pick.
#include <netinet/in.h>

#include <cstring>

#include "lb/lb_impl.h"

namespace ringway::lb {

uint64_t source_key(const sockaddr* addr) noexcept {
  if (addr == nullptr) {
    return 0;
  }
  if (addr->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, addr, sizeof(in));
    return hash_bytes({reinterpret_cast<const char*>(&in.sin_addr), sizeof(in.sin_addr)});
  }
  if (addr->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, addr, sizeof(in6));
    const char* bytes = reinterpret_cast<const char*>(&in6.sin6_addr);
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
      return hash_bytes({bytes + 12, 4});  // the same key as the plain IPv4 address
    }
    return hash_bytes({bytes, sizeof(in6.sin6_addr)});
  }
  return 0;
}

namespace detail {

uint32_t sh_pick(const PickContext& ctx, std::span<const uint32_t> members) noexcept {
  return rendezvous_pick(ctx, members);
}

}  // namespace detail
}  // namespace ringway::lb
