// The shard's per-request counting (ringway/metrics.h): which row and cell an event of an
// exchange adds to. Shard-local: each add is a relaxed load + store to this shard's cell.
#include "control/snapshot.h"
#include "proxy/shard_core.h"

namespace ringway::proxy {

void ShardCore::count_request(const Exchange& x, uint16_t status, uint64_t duration_us) {
  ++requests_;
  const metrics::Store* st = ctx_->metrics;
  if (st == nullptr) {
    return;
  }
  uint32_t row = x.metric_row;
  if (row == metrics::kNoRow && current_ != nullptr) {
    // Refused before routing (a malformed head): counted as matching no API in RELEASE.
    const Compiled& c = current_->c();
    row = c.metric_rows.request_row(static_cast<uint32_t>(c.routes->apis().size()),
                                    c.metric_rows.release);
  }
  if (row == metrics::kNoRow) {
    return;
  }
  st->requests.add(id_, row, metrics::kReqStatus + metrics::status_slot(status));
  st->requests.add(id_, row, metrics::kReqBucket + metrics::bucket_of(duration_us));
  st->requests.add(id_, row, metrics::kReqSumUs, duration_us);
  st->requests.add(id_, row, metrics::kReqCount);
}

void ShardCore::count_attempt(const Exchange& x, metrics::Outcome outcome) {
  const metrics::Store* st = ctx_->metrics;
  // Attempts at the API's own backend only: a downgrade's are counted as downgrades.
  if (st == nullptr || x.snap == nullptr || x.api == nullptr || x.backend != &x.api->backend) {
    return;
  }
  const std::vector<std::vector<uint32_t>>& rows = x.snap->c().metric_rows.backend;
  if (x.api->index >= rows.size()) {
    return;
  }
  const std::vector<uint32_t>& members = rows[x.api->index];
  const size_t m = x.channel >= 0 ? x.member : 0;
  if (m < members.size()) {
    st->backend.add(id_, members[m], static_cast<uint32_t>(outcome));
  }
}

void ShardCore::count_retry(const Exchange& x) {
  const metrics::Store* st = ctx_->metrics;
  if (st == nullptr || x.snap == nullptr || x.api == nullptr) {
    return;
  }
  const std::vector<uint32_t>& rows = x.snap->c().metric_rows.retries;
  if (x.api->index < rows.size()) {
    st->retries.add(id_, rows[x.api->index], 0);
  }
}

void ShardCore::count_downgrade(const GuardRule& rule) {
  if (ctx_->metrics != nullptr) {
    ctx_->metrics->downgrades.add(id_, rule.metrics_row, 0);
  }
}

}  // namespace ringway::proxy
