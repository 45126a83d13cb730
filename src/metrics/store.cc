#include <string>

#include "ringway/log.h"
#include "ringway/metrics.h"

namespace ringway::metrics {
namespace {

// Rows per table: far more than a configuration has (APIs x environments, APIs x members);
// names a configuration no longer uses keep their rows until the process ends.
constexpr uint32_t kMaxRows = 65536;

struct SlotTable {
  uint8_t slot[600] = {};
  constexpr SlotTable() {
    for (uint32_t s = 0; s < 600; ++s) {
      slot[s] = static_cast<uint8_t>(kCodeCount + (s < 100 ? 4 : s / 100 - 1));
    }
    for (uint32_t i = 0; i < kCodeCount; ++i) {
      slot[kCodes[i]] = static_cast<uint8_t>(i);
    }
  }
};
constexpr SlotTable kSlots;

}  // namespace

uint32_t status_slot(uint16_t status) noexcept {
  return status < 600 ? kSlots.slot[status] : kCodeCount + 4;
}

std::string slot_code(uint32_t slot) {
  if (slot < kCodeCount) {
    return std::to_string(kCodes[slot]);
  }
  return std::to_string(slot - kCodeCount + 1) + "xx";
}

uint32_t bucket_of(uint64_t us) noexcept {
  for (uint32_t i = 0; i < kBucketBounds.size(); ++i) {
    if (static_cast<double>(us) <= kBucketBounds[i] * 1e6) {
      return i;
    }
  }
  return kBuckets - 1;
}

std::string_view outcome_name(uint32_t outcome) {
  static constexpr std::string_view kNames[kOutcomes] = {"ok", "connect_error", "reset", "timeout",
                                                         "bad_response"};
  return outcome < kOutcomes ? kNames[outcome] : "unknown";
}

CounterTable::CounterTable(uint32_t shards, uint32_t width, uint32_t max_rows)
    : shards_(shards),
      width_(width),
      max_chunks_((max_rows + kRowsPerChunk - 1) / kRowsPerChunk),
      chunks_(std::make_unique<std::unique_ptr<core::ShardCells<uint64_t>>[]>(max_chunks_)) {}

uint32_t CounterTable::row(const std::vector<std::string>& labels) {
  std::string key;
  for (const auto& l : labels) {
    key += l;
    key += '\x1f';  // never in a configured name
  }
  auto it = by_key_.find(key);
  if (it != by_key_.end()) {
    return it->second;
  }
  const uint32_t r = rows();
  if (r / kRowsPerChunk >= max_chunks_) {
    if (!full_logged_) {
      full_logged_ = true;
      RW_WARN("metrics: more than %u label sets in one table: new ones are not counted",
              max_chunks_ * kRowsPerChunk);
    }
    return kNoRow;
  }
  if (r % kRowsPerChunk == 0) {
    chunks_[r / kRowsPerChunk] =
        std::make_unique<core::ShardCells<uint64_t>>(shards_, kRowsPerChunk * width_);
  }
  by_key_.emplace(std::move(key), r);
  labels_.push_back(labels);
  return r;
}

Store::Store(uint32_t shards)
    : requests(shards, kReqWidth, kMaxRows),
      backend(shards, kOutcomes, kMaxRows),
      retries(shards, 1, kMaxRows),
      downgrades(shards, 1, kMaxRows) {}

}  // namespace ringway::metrics
