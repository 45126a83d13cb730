#include "proxy/snapshot.h"

#include <algorithm>

namespace ringway::proxy {

// Receive buffers are this size (provided-buffer ring); a head buffer holds a complete
// head plus one more receive, so a head at the limit can always be completed.
inline constexpr uint32_t kRecvBufSize = 16384;

std::unique_ptr<Snapshot> build_snapshot(config::Config cfg, std::vector<config::Error>* errors) {
  auto snap = std::make_unique<Snapshot>();
  size_t before = errors->size();
  snap->routes = route::RouteTable::build(cfg, errors);
  if (!snap->routes || errors->size() != before) {
    return nullptr;
  }
  const config::Limits& l = cfg.limits;
  snap->parser_limits.max_header_bytes = l.max_header_bytes;
  snap->parser_limits.max_headers = std::min(l.max_headers, http::kMaxHeadersCap);
  snap->parser_limits.max_body_bytes = l.max_body_bytes;
  snap->head_buf_size = std::max<uint32_t>(l.max_header_bytes, 4096) + 2 * kRecvBufSize;
  snap->config = std::move(cfg);
  return snap;
}

}  // namespace ringway::proxy
