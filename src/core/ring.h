// One shard's io_uring: set-up with feature fallback, SQE acquisition that never fails
// (a full SQ is submitted and retried), and the provided-buffer ring for receives.
//
// Thread affinity: shard-local (SINGLE_ISSUER: only the creating thread submits).
#pragma once

#include <liburing.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <vector>

namespace ringway::core {

// A relative io_uring timeout of `ms` milliseconds.
__kernel_timespec to_timespec(uint64_t ms);

class Ring {
 public:
  // entries: SQ size (CQ gets 4x). Throws std::runtime_error on failure (start-up only).
  explicit Ring(uint32_t entries);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Always returns an SQE: when the SQ is full, submits what is queued and retries.
  io_uring_sqe* sqe();
  // Makes room for `n` consecutive SQEs (a link cannot span two submissions).
  void reserve(unsigned n);
  // Submits what is queued now, without waiting, and runs the deferred completion work
  // (DEFER_TASKRUN): an op linked behind one that completed inline runs in this call,
  // not after the rest of the loop's batch.
  void submit_now() { io_uring_submit_and_get_events(&ring_); }
  // Submits queued SQEs and waits for at least one CQE or `timeout_ms`.
  void submit_and_wait(uint64_t timeout_ms);
  // Calls on_cqe(user_data, res, flags) for every completion ready now, then retires them
  // all with one advance. Returns how many there were.
  template <class F>
  unsigned reap(F&& on_cqe) {
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0;
    unsigned n = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++n;
      on_cqe(cqe->user_data, cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&ring_, n);
    return n;
  }
  // Submits queued SQEs and waits for `batch` CQEs for at most `batch_us`; after that,
  // returns as soon as there is at least one, up to `timeout_ms`. With DEFER_TASKRUN the
  // kernel wakes this thread once for the batch rather than once per completion, and each
  // wake-up of a sleeping thread is an inter-processor interrupt that the peer whose packet
  // completed the op pays for. Needs IORING_FEAT_MIN_TIMEOUT (Linux 6.12); before that, and
  // for a batch of 1, it is submit_and_wait.
  void submit_and_wait_batch(uint64_t timeout_ms, unsigned batch, uint32_t batch_us);
  // A fixed-file table that mirrors the fd table: slot i holds fd i while it is fixed, so an
  // op on a fixed fd sets IOSQE_FIXED_FILE and keeps the fd number. The kernel then skips
  // the file lookup and reference count of every op. `slots` is capped by RLIMIT_NOFILE; false when
  // the kernel refuses (then fix() never fixes anything).
  bool register_fd_table(unsigned slots);
  // Queues installing `fd` in its slot, ahead of any op that uses it (SQEs are consumed in
  // order; only a failure posts a completion, as Op kFixFile). False when `fd` has no slot.
  bool fix(int fd);
  // Queues clearing `fd`'s slot and returns the SQE (to link it before the close: the slot
  // holds a reference, so the socket would stay open behind a plain close).
  io_uring_sqe* unfix(int fd);
  // Marks `s` as addressing the fixed slot of its fd.
  static void use_fixed(io_uring_sqe* s, bool fixed) {
    if (fixed) {
      s->flags |= IOSQE_FIXED_FILE;
    }
  }

  io_uring* raw() { return &ring_; }

 private:
  // Queues writing `*value` (read at submit) into fd's slot; only a failure completes.
  io_uring_sqe* set_slot(int fd, int* value);

  io_uring ring_{};
  bool min_timeout_ = false;
  bool ring_fd_registered_ = false;
  bool skip_cqe_ = false;
  // slot_fds_[fd] == fd once fd was fixed: what fix() installs, read at submit. Written
  // lazily so that only pages of fds in use count towards RSS.
  std::unique_ptr<int[]> slot_fds_;
  unsigned slots_ = 0;
  int no_fd_ = -1;  // what an unfix() installs
};

// Received buffers of one BufRing that their owner could not take yet, in arrival order: a
// multishot receive goes on delivering until its cancel lands, and its bytes must neither be
// lost nor reordered. The buffers stay out of the ring until taken (BufRing::take) or
// dropped; the links between them live in the ring (one per buffer), so holding costs no
// allocation. Owned by one connection.
struct HeldBufs {
  static constexpr uint16_t kNone = 0xffff;
  uint16_t head = kNone;
  uint16_t tail = kNone;
  uint32_t off = 0;  // bytes of `head` already taken
  bool empty() const { return head == kNone; }
};

// Provided buffers registered as a buffer ring (liburing 2.3 has no setup helper: the
// page-aligned ring memory is allocated here and registered with
// io_uring_register_buf_ring).
//
// Sized by use, not by the worst case: of `count` buffers, only `depth` are out (in the
// kernel's ring or held by the owner) at first; the rest wait on a stack. A recycled buffer
// goes on top of that stack and flush() refills the ring from the top, so the same few
// warm buffers circle and a buffer the kernel never needed is never touched (its pages
// never count towards RSS). The kernel consumes a ring in order, so posting all `count`
// would cycle through every buffer and touch them all. When a receive finds the ring empty
// (-ENOBUFS), completed() calls grow(), once per starved receive: `depth` follows the peak
// demand (buffers held plus receives completing in one loop turn), up to `count`.
//
// A buffer that once took a wide receive (more than kKeepBytes) keeps all its pages while it
// circles, so after a burst of large responses the same warm buffers would go on holding a
// megabyte per sixteen of them under small traffic. When a whole trim interval saw no wide
// receive, the ring parks such buffers as they are recycled (posting others instead) and the
// next trim() gives back their pages past the first kKeepBytes before they circle again.
class BufRing {
 public:
  // `headroom` bytes before each buffer are left out of what the kernel may fill: the
  // owner may write there to prepend bytes to a received buffer without moving it.
  // `depth` 0 means `count` (every buffer posted at once).
  BufRing(Ring& ring, uint16_t group, uint32_t count, uint32_t size, uint32_t headroom = 0,
          uint32_t depth = 0);
  ~BufRing();
  BufRing(const BufRing&) = delete;
  BufRing& operator=(const BufRing&) = delete;

  uint16_t group() const { return group_; }
  uint32_t buf_size() const { return size_; }
  uint32_t headroom() const { return headroom_; }
  uint32_t count() const { return count_; }
  // Buffers the ring may have out (posted or held) now.
  uint32_t depth() const { return depth_; }
  // Buffers ever handed to the kernel: those whose pages may be resident.
  uint32_t used() const { return used_; }
  char* buf(uint16_t id) { return base_ + static_cast<size_t>(id) * stride_ + headroom_; }
  // Data bytes of a buffer whose pages stay resident while it circles under small traffic.
  static constexpr uint32_t kKeepBytes = 4096;
  // Told of every completion of an operation that may select from this ring, before its
  // owner handles it: a starved receive grows the ring, a filled one notes how wide it was.
  void completed(int res, uint32_t flags) {
    if (res == -ENOBUFS) {
      grow();
    } else if (res > static_cast<int>(kKeepBytes) && (flags & IORING_CQE_F_BUFFER) != 0) {
      wide_[flags >> IORING_CQE_BUFFER_SHIFT] = 1;
      wide_seen_ = true;
      shrink_ = false;
    }
  }
  // Gives buffer `id` back; the next flush() may post it again.
  void recycle(uint16_t id);
  // A receive found no buffer: allow one more out (at most `count`).
  void grow();
  // Posts stacked buffers (most recently recycled first) until `depth` are out, and makes
  // them visible to the kernel.
  void flush();
  // Appends buffer `id`, holding `len` received bytes, to `q`.
  void hold(HeldBufs& q, uint16_t id, uint32_t len);
  // Copies at most `room` of `q`'s bytes, oldest first, to `dst`; buffers emptied go back to
  // the ring. Returns the bytes copied.
  uint32_t take(HeldBufs& q, char* dst, uint32_t room);
  // Gives all of `q`'s buffers back (their bytes are dropped).
  void drop(HeldBufs& q);
  // Buffers in some HeldBufs now (held, not yet taken or dropped): zero once no connection
  // holds received bytes, so one that stays above zero is a leak (/v1/shards).
  uint32_t held() const { return held_; }
  // Buffers parked now: recycled with wide pages after an interval of small receives only.
  uint32_t parked() const { return static_cast<uint32_t>(parked_.size()); }
  // Called at a fixed interval (a second): gives the pages of buffers that stayed on the
  // stack since the previous call back to the kernel (MADV_DONTNEED; they are still the
  // ring's, zero-filled on next use), and those of parked buffers past their first
  // kKeepBytes; when no receive starved in the interval lowers `depth` by an eighth (not
  // below the first depth), so memory follows a burst back down.
  void trim();

 private:
  void post(uint16_t id);
  // Gives back the whole pages of buffer `id` from `from` bytes into its block (headroom
  // first) to the block's end.
  void give_back(uint16_t id, size_t from) const;

  Ring& ring_;
  io_uring_buf_ring* br_ = nullptr;
  char* base_ = nullptr;
  size_t ring_bytes_ = 0;
  uint16_t group_;
  uint32_t count_;
  uint32_t size_;
  uint32_t headroom_;
  size_t stride_;
  uint32_t mask_;
  uint32_t depth_;
  uint32_t first_depth_;
  uint32_t used_ = 0;
  uint32_t held_ = 0;
  bool grew_ = false;    // grow() since the last trim()
  size_t low_ = 0;       // fewest buffers stacked since the last trim()
  size_t released_ = 0;  // the bottom `released_` stacked buffers have no pages
  int pending_ = 0;
  bool wide_seen_ = false;        // a wide receive since the last trim()
  bool shrink_ = false;           // none in the whole previous interval: park wide buffers
  std::vector<uint16_t> stack_;   // buffers not out, the most recently recycled last
  std::vector<uint16_t> parked_;  // wide buffers recycled while shrink_, until trim()
  std::vector<uint8_t> wide_;     // per buffer: took a wide receive since its pages went
  // Held buffers (HeldBufs): the next one of the same queue, and the bytes each holds.
  std::vector<uint16_t> held_next_;
  std::vector<uint32_t> held_len_;
};

}  // namespace ringway::core
