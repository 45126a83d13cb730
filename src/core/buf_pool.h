// Per-shard pool of I/O buffers in a few fixed sizes. Buffers are taken when a connection
// has bytes to hold and given back when it has none, so idle connections own no memory.
// With RINGWAY_PLAIN_POOLS every get/put is a plain allocation (ASan/Valgrind see each).
//
// Thread affinity: shard-local.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringway::core {

struct IoBuf {
  char* data = nullptr;
  uint32_t cap = 0;
  uint32_t head = 0;  // first unconsumed byte
  uint32_t tail = 0;  // one past the last byte
  uint32_t size() const { return tail - head; }
  uint32_t room() const { return cap - tail; }
  bool empty() const { return head == tail; }
  bool allocated() const { return data != nullptr; }
  // Moves unconsumed bytes to the front.
  void compact();
};

class BufPool {
 public:
  BufPool() = default;
  ~BufPool();
  BufPool(const BufPool&) = delete;
  BufPool& operator=(const BufPool&) = delete;

  // Gives `buf` at least `cap` bytes if it has none; keeps an existing buffer.
  void get(IoBuf& buf, uint32_t cap);
  // Returns the memory; buf becomes empty and unallocated.
  void put(IoBuf& buf);
  size_t cached_bytes() const { return cached_bytes_; }
  // Buffers handed out by get() and not put() back: an idle shard has none (what a
  // connection, an exchange or the access log holds goes back when it ends), so a count that
  // stays above zero after its connections closed is a leak (/v1/shards "buffers_in_use").
  uint64_t in_use() const { return in_use_; }
  // Called at a fixed interval (a second): gives the pages of cached buffers that no get()
  // needed since the previous call back to the kernel (MADV_DONTNEED: they stay cached and
  // are zero-filled on next use), so the memory of a burst does not stay resident.
  void trim();

 private:
  struct Class {
    uint32_t size;
    std::vector<char*> free;  // the most recently put last
    size_t low = 0;           // fewest cached since the last trim()
    size_t released = 0;      // the first `released` have no pages
  };
  Class& class_for(uint32_t size);
  std::vector<Class> classes_;
  size_t cached_bytes_ = 0;
  uint64_t in_use_ = 0;
  static constexpr size_t kMaxCachedBytes = 64u << 20;
};

}  // namespace ringway::core
