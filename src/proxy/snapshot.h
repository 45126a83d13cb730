// The immutable configuration snapshot shards read: the validated config plus everything
// compiled from it. Built on the control thread; published through RcuDomain.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ringway/config.h"
#include "ringway/http.h"
#include "ringway/route.h"

namespace ringway::proxy {

struct Snapshot {
  uint64_t generation = 0;  // set by RcuDomain::publish
  config::Config config;
  std::unique_ptr<route::RouteTable> routes;
  http::ParserLimits parser_limits;
  uint32_t head_buf_size = 0;  // a buffer that can hold a whole head plus one receive
};

// Compiles `cfg`. Returns nullptr and appends errors (with JSON paths) on failure.
std::unique_ptr<Snapshot> build_snapshot(config::Config cfg, std::vector<config::Error>* errors);

}  // namespace ringway::proxy
