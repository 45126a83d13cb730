// The TLS part of compiling a configuration: the contexts of TLS listeners and of https
// backends, and the pool-key identities of TLS backend connections.
//
// Thread affinity: control thread (compile), except tls_identity (any).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "control/snapshot.h"

namespace ringway::control {

// FNV-1a of a name (ChannelMember::host_hash, backend names).
uint64_t name_hash(std::string_view name);

// The pool-key identity of a TLS connection made with context `ctx_id` for `name_hash`:
// never 0 (0 means plain TCP).
inline uint64_t tls_identity(uint64_t ctx_id, uint64_t name_hash) {
  return ((ctx_id * 0x9e3779b97f4a7c15ull) ^ name_hash) | 1;
}

// Builds out->listener_tls and the TLS fields of every https API backend (one context per
// distinct client_ssl). False with errors (JSON paths) when a file cannot be used.
bool compile_tls(const config::Config& cfg, uint32_t shards, proxy::Compiled* out,
                 std::vector<config::Error>* errors);

}  // namespace ringway::control
