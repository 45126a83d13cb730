// uri_hash: request-path hashing. The key is the path without query or fragment, so one
// path sticks to one member while that member is available; the member is chosen by
// weighted rendezvous (hash.cc). Any thread for the key; shard thread for the pick.
#include "lb/lb_impl.h"

namespace ringway::lb {

uint64_t path_key(std::string_view target) noexcept {
  size_t end = 0;
  while (end < target.size() && target[end] != '?' && target[end] != '#') {
    ++end;
  }
  return hash_bytes(target.substr(0, end));
}

namespace detail {

uint32_t uri_hash_pick(const PickContext& ctx, std::span<const uint32_t> members) noexcept {
  return rendezvous_pick(ctx, members);
}

}  // namespace detail
}  // namespace ringway::lb
