#include "core/buf_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace ringway::core {

void IoBuf::compact() {
  if (head == 0) {
    return;
  }
  uint32_t n = tail - head;
  if (n != 0) {
    std::memmove(data, data + head, n);
  }
  head = 0;
  tail = n;
}

BufPool::~BufPool() {
  for (auto& c : classes_) {
    for (char* p : c.free) {
      std::free(p);
    }
  }
}

BufPool::Class& BufPool::class_for(uint32_t size) {
  for (auto& c : classes_) {
    if (c.size == size) {
      return c;
    }
  }
  classes_.push_back(Class{size, {}});
  return classes_.back();
}

void BufPool::get(IoBuf& buf, uint32_t cap) {
  if (buf.data != nullptr) {
    return;
  }
  // Round to 4 KiB so configurations with nearby limits share classes.
  uint32_t size = (cap + 4095u) & ~4095u;
  ++in_use_;
  buf.head = buf.tail = 0;
  buf.cap = size;
#ifndef RINGWAY_PLAIN_POOLS
  Class& c = class_for(size);
  if (!c.free.empty()) {
    buf.data = c.free.back();
    c.free.pop_back();
    c.low = std::min(c.low, c.free.size());
    c.released = std::min(c.released, c.free.size());
    cached_bytes_ -= size;
    return;
  }
#endif
  // Page-aligned (size is a multiple of 4 KiB), so trim() can drop whole buffers.
  buf.data = static_cast<char*>(std::aligned_alloc(4096, size));
  if (buf.data == nullptr) {
    std::abort();  // out of memory is fatal on the data plane
  }
}

void BufPool::put(IoBuf& buf) {
  if (buf.data == nullptr) {
    return;
  }
  --in_use_;
#ifndef RINGWAY_PLAIN_POOLS
  if (cached_bytes_ + buf.cap <= kMaxCachedBytes) {
    class_for(buf.cap).free.push_back(buf.data);
    cached_bytes_ += buf.cap;
  } else {
    std::free(buf.data);
  }
#else
  std::free(buf.data);
#endif
  buf = IoBuf{};
}

void BufPool::trim() {
  for (Class& c : classes_) {
    for (size_t i = c.released; i < c.low; ++i) {
      // Not on the request path (once a second at most), and IORING_OP_MADVISE would run
      // later on an io-wq worker, racing a get() that hands the buffer out meanwhile.
      madvise(c.free[i], c.size, MADV_DONTNEED);
    }
    c.released = std::max(c.released, c.low);
    c.low = c.free.size();
  }
}

}  // namespace ringway::core
