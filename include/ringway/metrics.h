// Per-request counters (docs/admin.md "Metrics"): what the shards count as they serve and
// the admin API sums at scrape.
//
// A CounterTable is a table of rows, one per label set (an API and environment, an API and
// backend member, ...), each row `width` uint64 cells per shard. Rows are made by the
// control thread when it compiles a configuration (row(): the same labels always give the
// same row, so a reload keeps every count) and never freed while the process runs; their
// storage comes in chunks of kRowsPerChunk rows made before the snapshot that names them
// is published (its release orders the chunk's construction before any shard's use).
//
// Thread affinity: row(), rows() and labels() on the control thread only; add() by shard
// `shard` only, for its own cells (relaxed load + store, no read-modify-write: the cells
// are core::ShardCells); sum() from any thread (it may lag by updates in flight).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/shard_cells.h"

namespace ringway::metrics {

inline constexpr uint32_t kNoRow = UINT32_MAX;

// ---- ringway_requests_total / ringway_request_duration_seconds ----
// Status codes with a cell of their own: every code IANA registers. Any other status is
// counted under its class ("1xx" .. "5xx").
inline constexpr uint16_t kCodes[] = {
    100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301,
    302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409,
    410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 425, 426, 428, 429,
    431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511};
inline constexpr uint32_t kCodeCount = sizeof(kCodes) / sizeof(kCodes[0]);
inline constexpr uint32_t kStatusSlots = kCodeCount + 5;  // then "1xx" .. "5xx"
// The cell of `status` (100..599; anything else counts as "5xx").
uint32_t status_slot(uint16_t status) noexcept;
// The `code` label of a slot.
std::string slot_code(uint32_t slot);

// Histogram upper bounds (seconds), then +Inf.
inline constexpr std::array<double, 14> kBucketBounds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
inline constexpr uint32_t kBuckets = kBucketBounds.size() + 1;
// The first bucket whose bound is >= `us` microseconds (kBuckets - 1: +Inf).
uint32_t bucket_of(uint64_t us) noexcept;

// Request row: [status slots][buckets (non-cumulative)][sum of durations, us][count].
inline constexpr uint32_t kReqStatus = 0;
inline constexpr uint32_t kReqBucket = kStatusSlots;
inline constexpr uint32_t kReqSumUs = kReqBucket + kBuckets;
inline constexpr uint32_t kReqCount = kReqSumUs + 1;
inline constexpr uint32_t kReqWidth = kReqCount + 1;

// ---- ringway_backend_requests_total: one cell per outcome of an attempt ----
enum class Outcome : uint8_t { kOk, kConnectError, kReset, kTimeout, kBadResponse };
inline constexpr uint32_t kOutcomes = 5;
std::string_view outcome_name(uint32_t outcome);

class CounterTable {
 public:
  static constexpr uint32_t kRowsPerChunk = 64;
  // At most `max_rows` rows (rounded up to whole chunks); row() returns kNoRow past that.
  CounterTable(uint32_t shards, uint32_t width, uint32_t max_rows);
  CounterTable(const CounterTable&) = delete;
  CounterTable& operator=(const CounterTable&) = delete;

  // Control thread: the row of `labels` (values in the table's label order), made on first
  // use; kNoRow when the table is full (logged once).
  uint32_t row(const std::vector<std::string>& labels);
  uint32_t rows() const { return static_cast<uint32_t>(labels_.size()); }
  const std::vector<std::string>& labels(uint32_t row) const { return labels_[row]; }
  uint32_t width() const { return width_; }

  // Shard `shard`; `row` may be kNoRow (nothing is counted).
  void add(uint32_t shard, uint32_t row, uint32_t col, uint64_t delta = 1) const noexcept {
    if (row != kNoRow) {
      chunks_[row / kRowsPerChunk]->add(shard, (row % kRowsPerChunk) * width_ + col, delta);
    }
  }
  uint64_t sum(uint32_t row, uint32_t col) const noexcept {
    return chunks_[row / kRowsPerChunk]->sum((row % kRowsPerChunk) * width_ + col);
  }

 private:
  uint32_t shards_;
  uint32_t width_;
  uint32_t max_chunks_;
  std::unique_ptr<std::unique_ptr<core::ShardCells<uint64_t>>[]> chunks_;
  std::map<std::string, uint32_t> by_key_;
  std::vector<std::vector<std::string>> labels_;
  bool full_logged_ = false;
};

// The node's tables, made once at start by the control thread and kept to the end.
struct Store {
  explicit Store(uint32_t shards);
  CounterTable requests;    // labels: api, environment
  CounterTable backend;     // labels: api, member
  CounterTable retries;     // labels: api
  CounterTable downgrades;  // labels: policy, api, environment, type
};

}  // namespace ringway::metrics
