#include <algorithm>

#include "ringway/health.h"

namespace ringway::health {

MemberState::MemberState(uint32_t healthy_threshold, uint32_t unhealthy_threshold)
    : healthy_threshold_(std::max<uint32_t>(healthy_threshold, 1)),
      unhealthy_threshold_(std::max<uint32_t>(unhealthy_threshold, 1)) {}

bool MemberState::record(bool success) {
  if (success) {
    ++successes_;
    failures_ = 0;
  } else {
    ++failures_;
    successes_ = 0;
  }
  bool was_up = up_;
  if (up_ && failures_ >= unhealthy_threshold_) {
    up_ = false;
  } else if (!up_ && successes_ >= healthy_threshold_) {
    up_ = true;
  }
  return up_ != was_up;
}

}  // namespace ringway::health
