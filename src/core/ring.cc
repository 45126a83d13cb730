#include "core/ring.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/user_data.h"
#include "ringway/log.h"

namespace ringway::core {

namespace {
// Not in liburing 2.3's headers: the feature bit of min_wait_usec, which the kernel reads
// where those headers' io_uring_getevents_arg has `pad`.
constexpr uint32_t kFeatMinTimeout = 1U << 15;

// Publishes the SQEs queued since the last submit to the kernel, as liburing does before
// io_uring_enter; returns how many the kernel has not consumed yet.
unsigned flush_sq(io_uring* r) {
  io_uring_sq& sq = r->sq;
  if (sq.sqe_head != sq.sqe_tail) {
    sq.sqe_head = sq.sqe_tail;
    io_uring_smp_store_release(sq.ktail, sq.sqe_tail);
  }
  return sq.sqe_tail - io_uring_smp_load_acquire(sq.khead);
}
}  // namespace

__kernel_timespec to_timespec(uint64_t ms) {
  __kernel_timespec ts{};
  ts.tv_sec = static_cast<long long>(ms / 1000);
  ts.tv_nsec = static_cast<long long>((ms % 1000) * 1000000);
  return ts;
}

Ring::Ring(uint32_t entries) {
  io_uring_params p{};
  auto init = [&](uint32_t flags) {
    p = io_uring_params{};
    p.flags = IORING_SETUP_CQSIZE | flags;
    p.cq_entries = entries * 4;
    return io_uring_queue_init_params(entries, &ring_, &p);
  };
  int rc = init(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
  if (rc == -EINVAL) {
    // Kernels before 6.1 lack DEFER_TASKRUN (and 5.x SINGLE_ISSUER): use COOP_TASKRUN.
    RW_INFO("io_uring: DEFER_TASKRUN unavailable, using COOP_TASKRUN");
    rc = init(IORING_SETUP_COOP_TASKRUN);
    if (rc == -EINVAL) {
      rc = init(0);
    }
  }
  if (rc < 0) {
    throw std::runtime_error(std::string("io_uring_queue_init: ") + strerror(-rc));
  }
  min_timeout_ = (p.features & kFeatMinTimeout) != 0;
  skip_cqe_ = (p.features & IORING_FEAT_CQE_SKIP) != 0;
  // Every io_uring_enter then skips the ring fd's lookup (per thread: the ring is used
  // only by the thread that made it).
  ring_fd_registered_ = io_uring_register_ring_fd(&ring_) == 1;
  if (!(p.features & IORING_FEAT_EXT_ARG)) {
    throw std::runtime_error("io_uring: kernel lacks IORING_FEAT_EXT_ARG (need Linux 5.11+)");
  }
}

Ring::~Ring() { io_uring_queue_exit(&ring_); }

io_uring_sqe* Ring::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  while (s == nullptr) {
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

void Ring::reserve(unsigned n) {
  while (io_uring_sq_space_left(&ring_) < n) {
    io_uring_submit(&ring_);
  }
}

void Ring::submit_and_wait(uint64_t timeout_ms) {
  __kernel_timespec ts = to_timespec(timeout_ms);
  io_uring_cqe* cqe = nullptr;
  int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
    RW_WARN("io_uring_submit_and_wait_timeout: %s", strerror(-rc));
  }
}

void Ring::submit_and_wait_batch(uint64_t timeout_ms, unsigned batch, uint32_t batch_us) {
  if (!min_timeout_ || batch <= 1 || batch_us == 0) {
    submit_and_wait(timeout_ms);
    return;
  }
  __kernel_timespec ts = to_timespec(timeout_ms);
  io_uring_getevents_arg arg{};
  arg.ts = reinterpret_cast<uint64_t>(&ts);
  arg.pad = batch_us;  // min_wait_usec
  unsigned to_submit = flush_sq(&ring_);
  int fd = ring_fd_registered_ ? ring_.enter_ring_fd : ring_.ring_fd;
  unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG |
                   (ring_fd_registered_ ? IORING_ENTER_REGISTERED_RING : 0);
  int rc =
      io_uring_enter2(fd, to_submit, batch, flags, reinterpret_cast<sigset_t*>(&arg), sizeof(arg));
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
    RW_WARN("io_uring_enter: %s", strerror(-rc));
  }
}

bool Ring::register_fd_table(unsigned slots) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < slots) {
    slots = static_cast<unsigned>(lim.rlim_cur);
  }
  if (!skip_cqe_ || slots == 0 || io_uring_register_files_sparse(&ring_, slots) != 0) {
    return false;
  }
  slot_fds_.reset(new int[slots]);
  slots_ = slots;
  return true;
}

bool Ring::fix(int fd) {
  if (fd < 0 || static_cast<unsigned>(fd) >= slots_) {
    return false;
  }
  slot_fds_[fd] = fd;
  set_slot(fd, &slot_fds_[fd]);
  return true;
}

io_uring_sqe* Ring::unfix(int fd) { return set_slot(fd, &no_fd_); }

io_uring_sqe* Ring::set_slot(int fd, int* value) {
  io_uring_sqe* s = sqe();
  io_uring_prep_files_update(s, value, 1, fd);
  io_uring_sqe_set_data64(s, encode(Op::kFixFile, static_cast<uint32_t>(fd), 0));
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  return s;
}

BufRing::BufRing(Ring& ring, uint16_t group, uint32_t count, uint32_t size, uint32_t headroom,
                 uint32_t depth)
    : ring_(ring),
      group_(group),
      count_(count),
      size_(size),
      headroom_(headroom),
      stride_(static_cast<size_t>(size) + headroom),
      mask_(count - 1),
      depth_(depth == 0 || depth > count ? count : depth),
      first_depth_(depth_) {
  if (count == 0 || (count & (count - 1)) != 0 || count > 32768) {
    throw std::runtime_error("buffer ring size must be a power of two <= 32768");
  }
  ring_bytes_ = count * sizeof(io_uring_buf);
  void* mem =
      mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    throw std::runtime_error("mmap buffer ring failed");
  }
  br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(br_);
  reg.ring_entries = count;
  reg.bgid = group;
  int rc = io_uring_register_buf_ring(ring.raw(), &reg, 0);
  if (rc != 0) {
    munmap(br_, ring_bytes_);
    throw std::runtime_error(std::string("io_uring_register_buf_ring: ") + strerror(-rc));
  }
  // Buffer memory: touched pages only count towards RSS once the kernel fills them.
  base_ = static_cast<char*>(
      mmap(nullptr, count * stride_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
  if (base_ == MAP_FAILED) {
    throw std::runtime_error("mmap buffers failed");
  }
  stack_.reserve(count);
  parked_.reserve(count);
  wide_.assign(count, 0);
  held_next_.assign(count, HeldBufs::kNone);
  held_len_.assign(count, 0);
  for (uint32_t i = count; i-- > 0;) {
    stack_.push_back(static_cast<uint16_t>(i));  // buffer 0 on top
  }
  flush();
}

BufRing::~BufRing() {
  io_uring_unregister_buf_ring(ring_.raw(), group_);
  munmap(br_, ring_bytes_);
  munmap(base_, count_ * stride_);
}

void BufRing::recycle(uint16_t id) {
  if (shrink_ && wide_[id] != 0) {
    parked_.push_back(id);
  } else {
    stack_.push_back(id);
  }
}

void BufRing::hold(HeldBufs& q, uint16_t id, uint32_t len) {
  held_next_[id] = HeldBufs::kNone;
  held_len_[id] = len;
  ++held_;
  if (q.empty()) {
    q.head = id;
    q.off = 0;
  } else {
    held_next_[q.tail] = id;
  }
  q.tail = id;
}

uint32_t BufRing::take(HeldBufs& q, char* dst, uint32_t room) {
  uint32_t n = 0;
  while (!q.empty() && n < room) {
    uint16_t id = q.head;
    uint32_t k = std::min(room - n, held_len_[id] - q.off);
    std::memcpy(dst + n, buf(id) + q.off, k);
    n += k;
    q.off += k;
    if (q.off == held_len_[id]) {
      q.head = held_next_[id];
      q.off = 0;
      --held_;
      recycle(id);
    }
  }
  if (q.empty()) {
    q.tail = HeldBufs::kNone;
  }
  return n;
}

void BufRing::drop(HeldBufs& q) {
  while (!q.empty()) {
    uint16_t id = q.head;
    q.head = held_next_[id];
    --held_;
    recycle(id);
  }
  q = HeldBufs{};
}

void BufRing::grow() {
  depth_ = std::min(count_, depth_ + 1);
  grew_ = true;
}

void BufRing::give_back(uint16_t id, size_t from) const {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  // Whole pages inside this buffer's block only: neighbours stay intact.
  auto block = reinterpret_cast<uintptr_t>(base_ + static_cast<size_t>(id) * stride_);
  uintptr_t lo = (block + from + page - 1) & ~(page - 1);
  uintptr_t hi = (block + stride_) & ~(page - 1);
  if (hi > lo) {
    // A direct call, not IORING_OP_MADVISE: that one always runs on an io-wq worker,
    // later, and could zero a buffer the next flush() has posted again meanwhile.
    madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
}

void BufRing::trim() {
  // The bottom (count - used) were never out: they have no pages to give back.
  for (size_t i = std::max<size_t>(released_, count_ - used_); i < low_; ++i) {
    give_back(stack_[i], 0);
    wide_[stack_[i]] = 0;
  }
  released_ = std::max(released_, low_);
  // Parked buffers circle again with only the pages a small receive touches.
  for (uint16_t id : parked_) {
    give_back(id, headroom_ + kKeepBytes);
    wide_[id] = 0;
    stack_.push_back(id);
  }
  parked_.clear();
  shrink_ = !wide_seen_;
  wide_seen_ = false;
  if (!grew_) {
    depth_ = std::max(first_depth_, depth_ - std::max<uint32_t>(1, depth_ / 8));
  }
  grew_ = false;
  low_ = stack_.size();
}

void BufRing::post(uint16_t id) {
  io_uring_buf_ring_add(br_, buf(id), size_, id, mask_, pending_++);
}

void BufRing::flush() {
  // Out = count - stacked - parked (so with fewer than `depth` out, one of the two has a
  // buffer). The bottom (count - used_) of the stack have never been out. Parked buffers go
  // out again only when the stack ran dry.
  while (count_ - stack_.size() - parked_.size() < depth_) {
    if (stack_.empty()) {
      post(parked_.back());
      parked_.pop_back();
      continue;
    }
    if (stack_.size() == count_ - used_) {
      ++used_;
    }
    post(stack_.back());
    stack_.pop_back();
  }
  low_ = std::min(low_, stack_.size());
  released_ = std::min(released_, stack_.size());
  if (pending_ != 0) {
    io_uring_buf_ring_advance(br_, pending_);
    pending_ = 0;
  }
}

}  // namespace ringway::core
