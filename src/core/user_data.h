// The io_uring user_data codec: operation, slot and generation in one 64-bit word.
// Only these helpers know the bit layout. A completion whose generation differs from the
// slot's current one belongs to a recycled slot and is dropped.
#pragma once

#include <cstdint>

namespace ringway::core {

enum class Op : uint8_t {
  kIgnore = 0,  // completions nobody waits for (close, cancel)
  kAccept,      // slot = listener index
  kClientRecv,
  kClientSend,
  kUpConnect,
  kUpSend,
  kUpRecv,
  kWake,
  kListenClosed,    // a listener's close completed (drain)
  kFixFile,         // a fixed-file slot update failed (slot = fd); success posts nothing
  kAccessLogWrite,  // the shard's access log write (proxy/access_log.h); slot, gen unused
};

// Layout: [63..56] op, [55..32] generation (24 bits), [31..0] slot.
inline constexpr uint64_t kGenMask = (1u << 24) - 1;

constexpr uint64_t encode(Op op, uint32_t slot, uint32_t gen) {
  return (static_cast<uint64_t>(op) << 56) | ((gen & kGenMask) << 32) | slot;
}
constexpr Op op_of(uint64_t ud) { return static_cast<Op>(ud >> 56); }
constexpr uint32_t slot_of(uint64_t ud) { return static_cast<uint32_t>(ud); }
constexpr uint32_t gen_of(uint64_t ud) { return static_cast<uint32_t>((ud >> 32) & kGenMask); }

}  // namespace ringway::core
