// The access log of a shard: one JSON line per exchange (docs/admin.md, "Access log"),
// formatted into the shard's own buffer and written with io_uring to the O_APPEND file the
// control thread publishes (ShardContext::access_log_file, control/access_log_files.h).
//
// Two fixed buffers of kBufSize: one fills while the other is written (IORING_OP_WRITE, its
// own op kind). A write starts when the filling buffer is half full, or at the end of a loop
// turn once its oldest line waited kFlushDelayMs (a shard wakes at least every 100 ms, so an
// idle shard's lines reach the file within about 150 ms). A line that finds no room while a
// write is in flight is dropped and counted (access_log_dropped); so are the lines of a write
// that fails (the failure is logged once per shard). No lock, no blocking call, no allocation
// after construction.
//
// File switch (SIGUSR1 reopen, reload with another path): the shard adopts the published
// file at a flush with no write in flight; lines buffered before the switch are written to
// the file they were logged under first. The generation adopted is stored in the shard's
// access_log_gen cell, which tells the control thread when the old fd may be closed.
//
// Thread affinity: shard-local, except the pack helpers (any thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "core/ring.h"
#include "proxy/conn.h"

namespace ringway::proxy {

struct ShardContext;

// The published file word: generation in the high 32 bits, fd + 1 in the low (0: none).
namespace access_log_file {
constexpr uint64_t pack(uint32_t generation, int fd) {
  return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd + 1);
}
constexpr uint32_t generation_of(uint64_t word) { return static_cast<uint32_t>(word >> 32); }
constexpr int fd_of(uint64_t word) { return static_cast<int>(static_cast<uint32_t>(word)) - 1; }
}  // namespace access_log_file

class AccessLog {
 public:
  static constexpr uint32_t kBufSize = 64 * 1024;
  static constexpr uint32_t kMaxLine = 4096;     // bound of one formatted line
  static constexpr uint32_t kMaxPath = 2048;     // escaped path bytes kept in a line
  static constexpr uint64_t kFlushDelayMs = 50;  // oldest buffered line's wait before a flush

  AccessLog(uint32_t shard, ShardContext* ctx);

  // Whether lines are wanted: a file is in use, or one is published. Cheap (one relaxed load).
  bool enabled() const;

  // Appends the line of `c`'s exchange (its trace and Exchange), or counts it dropped.
  // `client`: "ip:port" text of the peer. Call from ClientSide::exchange_end only.
  void log(core::Ring& ring, const ClientConn& c, std::string_view client, std::string_view api,
           std::string_view environment, int64_t unix_ms, uint64_t now_us);

  // End of a loop turn: adopts a newly published file, starts a due write. `force`: write
  // whatever is buffered now (drain).
  void tick(core::Ring& ring, uint64_t now_ms, bool force);
  // The completion of the write in flight (Op::kAccessLogWrite).
  void on_write(core::Ring& ring, int res);
  // Nothing buffered and no write in flight.
  bool idle() const { return !writing_ && bufs_[fill_].len == 0; }
  // The shard ends: its generation cell no longer holds any fd open.
  void retire();

 private:
  struct Buf {
    std::unique_ptr<char[]> data;
    uint32_t len = 0;
    uint32_t lines = 0;
  };
  void adopt(uint64_t word);
  void start_write(core::Ring& ring);
  void submit(core::Ring& ring);
  void drop(uint64_t lines);

  uint32_t shard_;
  ShardContext* ctx_;
  Buf bufs_[2];
  uint8_t fill_ = 0;  // the buffer lines go to; the other one is being written
  bool writing_ = false;
  uint32_t write_off_ = 0;      // bytes of the written buffer the kernel took so far
  int write_fd_ = -1;           // the fd of the write in flight
  int fd_ = -1;                 // the file in use (not owned: the control thread closes it)
  uint64_t word_ = 0;           // the published word adopted (access_log_file::pack)
  uint64_t first_seen_ms_ = 0;  // the first turn end that saw the filling buffer's lines
  bool failure_logged_ = false;
};

}  // namespace ringway::proxy
