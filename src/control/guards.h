// Compiling a configuration's circuit-breaker guards (proxy/guard.h). Control thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "proxy/guard.h"
#include "ringway/config.h"
#include "ringway/route.h"

namespace ringway::control {

// Builds `out` from cfg's policies and bindings (environment indices are `routes`').
// Breakers whose identity `previous` holds (an unchanged policy) are taken over from it.
// False with errors (JSON paths) when a downgrade address does not resolve.
bool compile_guards(const config::Config& cfg, const route::RouteTable& routes, uint32_t shards,
                    const proxy::Guards* previous, proxy::Guards* out,
                    std::vector<config::Error>* errors);

}  // namespace ringway::control
