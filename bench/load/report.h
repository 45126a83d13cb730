// The result of a run: merged statistics, printed as a human table or as JSON.
#pragma once

#include <cstdint>
#include <string>

#include "options.h"
#include "worker.h"

namespace ringway::load {

struct Report {
  const Options* opt = nullptr;
  Stats stats;
  uint64_t elapsed_ns = 0;  // first recorded send to the last response
  uint32_t open_connections = 0;

  double rps() const;
  std::string Table() const;
  std::string Json() const;
};

}  // namespace ringway::load
