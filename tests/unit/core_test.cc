// Unit tests for src/core: user_data codec, timer wheel (fake time), slab generations,
// buffer pool, RCU reclamation, CPU masks and thread names.
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/buf_pool.h"
#include "core/cpu.h"
#include "core/ring.h"
#include "core/shard_cells.h"
#include "core/slab.h"
#include "core/timer_wheel.h"
#include "core/user_data.h"
#include "ringway/clock.h"
#include "ringway/rcu.h"

namespace ringway::core {
namespace {

TEST(UserData, RoundTripsEveryField) {
  uint64_t ud = encode(Op::kUpRecv, 123456, 0xabcdef);
  EXPECT_EQ(op_of(ud), Op::kUpRecv);
  EXPECT_EQ(slot_of(ud), 123456u);
  EXPECT_EQ(gen_of(ud), 0xabcdefu);
  // Generations wrap at 24 bits instead of bleeding into the op.
  uint64_t wrapped = encode(Op::kClientSend, 7, 0x1000001);
  EXPECT_EQ(op_of(wrapped), Op::kClientSend);
  EXPECT_EQ(gen_of(wrapped), 1u);
}

TEST(Slab, ReleaseBumpsGenerationSoStaleCompletionsMismatch) {
  Slab<int> slab(2);
  uint32_t a = slab.alloc();
  uint32_t gen = slab.gen(a);
  slab.release(a);
  uint32_t b = slab.alloc();
  EXPECT_EQ(a, b);              // the slot is reused ...
  EXPECT_NE(slab.gen(b), gen);  // ... under a new generation
  EXPECT_NE(slab.alloc(), UINT32_MAX);
  EXPECT_EQ(slab.alloc(), UINT32_MAX);  // full
  EXPECT_EQ(slab.in_use(), 2u);
}

// Issue 19: a burst's objects are freed once they stayed unused for a trim interval; what the
// steady load reuses within an interval is kept; a freed slot is constructed again on use and
// keeps its generation.
TEST(Slab, TrimFreesObjectsOfSlotsUnusedSinceTheLastTrim) {
  Slab<int> slab(100);
  std::vector<uint32_t> burst;
  for (int i = 0; i < 50; ++i) {
    burst.push_back(slab.alloc());
    slab[burst.back()] = i;
  }
  for (uint32_t s : burst) {
    slab.release(s);
  }
  auto always = [](int&) { return true; };
  slab.trim(always);  // the first trim only starts the interval: all 50 were used in it
  EXPECT_EQ(slab.constructed(), 50u);
  // Steady load: 5 connections come and go during the interval.
  std::vector<uint32_t> steady;
  for (int i = 0; i < 5; ++i) {
    steady.push_back(slab.alloc());
  }
  for (uint32_t s : steady) {
    slab.release(s);
  }
  slab.trim(always);
  EXPECT_EQ(slab.constructed(), 5u);  // the 45 the interval did not reach are freed
  slab.trim(always);
  EXPECT_EQ(slab.constructed(), 0u);  // then the 5, unused for a whole interval
  // Every slot is usable again; a freed slot's generation still tells stale completions.
  uint32_t gen = slab.gen(burst.front());
  for (int i = 0; i < 100; ++i) {
    uint32_t s = slab.alloc();
    ASSERT_NE(s, UINT32_MAX);
    ASSERT_NE(slab.get(s), nullptr);
    slab[s] = i;
  }
  EXPECT_EQ(slab.alloc(), UINT32_MAX);
  EXPECT_EQ(slab.gen(burst.front()), gen);
  EXPECT_EQ(slab.constructed(), 100u);
}

TEST(Slab, TrimKeepsObjectsTheCallerSaysToKeep) {
  Slab<int> slab(4);
  for (int i = 0; i < 4; ++i) {
    slab[slab.alloc()] = i;
  }
  for (uint32_t s = 0; s < 4; ++s) {
    slab.release(s);
  }
  auto odd_only = [](int& v) { return v % 2 == 1; };
  slab.trim(odd_only);
  slab.trim(odd_only);
  EXPECT_EQ(slab.constructed(), 2u);
}

// An unarmed node of `owner`.
TimerNode Owned(uint32_t owner) {
  TimerNode n;
  n.owner = owner;
  return n;
}

TEST(TimerWheel, FiresOnlyPastDeadlinesInOrderOfTime) {
  ManualClock clock(10000);
  TimerWheel wheel(clock.now_ms());
  TimerNode a = Owned(1), b = Owned(2), c = Owned(3);
  wheel.arm(&a, clock.now_ms() + 50);
  wheel.arm(&b, clock.now_ms() + 20000);  // beyond one wheel turn (16 s)
  wheel.arm(&c, clock.now_ms() + 10);
  std::vector<uint32_t> fired;
  auto collect = [&](TimerNode* n) { fired.push_back(n->owner); };
  clock.advance(9);
  wheel.expire(clock.now_ms(), collect);
  EXPECT_TRUE(fired.empty());
  clock.advance(1);
  wheel.expire(clock.now_ms(), collect);
  EXPECT_EQ(fired, std::vector<uint32_t>{3});
  clock.advance(100);
  wheel.expire(clock.now_ms(), collect);
  EXPECT_EQ(fired, (std::vector<uint32_t>{3, 1}));
  clock.advance(16384);  // one full turn: b is in a visited slot but not due
  wheel.expire(clock.now_ms(), collect);
  EXPECT_EQ(fired.size(), 2u);
  clock.advance(4000);
  wheel.expire(clock.now_ms(), collect);
  EXPECT_EQ(fired, (std::vector<uint32_t>{3, 1, 2}));
  EXPECT_FALSE(b.armed());
}

TEST(TimerWheel, DisarmAndRearmMoveTheDeadline) {
  ManualClock clock;
  TimerWheel wheel(clock.now_ms());
  TimerNode a;
  wheel.arm(&a, clock.now_ms() + 10);
  wheel.arm(&a, clock.now_ms() + 1000);  // re-arm replaces
  int fired = 0;
  clock.advance(500);
  wheel.expire(clock.now_ms(), [&](TimerNode*) { ++fired; });
  EXPECT_EQ(fired, 0);
  TimerWheel::disarm(&a);
  clock.advance(1000);
  wheel.expire(clock.now_ms(), [&](TimerNode*) { ++fired; });
  EXPECT_EQ(fired, 0);
}

TEST(TimerWheel, NextTimeoutReportsTheEarliestDeadlineWithinHorizon) {
  ManualClock clock;
  TimerWheel wheel(clock.now_ms());
  EXPECT_EQ(wheel.next_timeout_ms(clock.now_ms(), 100), 100u);
  TimerNode a;
  wheel.arm(&a, clock.now_ms() + 40);
  EXPECT_EQ(wheel.next_timeout_ms(clock.now_ms(), 100), 40u);
  EXPECT_EQ(wheel.next_timeout_ms(clock.now_ms(), 20), 20u);
}

TEST(TimerWheel, ExpiryCallbackMayRearm) {
  ManualClock clock;
  TimerWheel wheel(clock.now_ms());
  TimerNode a;
  int fired = 0;
  wheel.arm(&a, clock.now_ms() + 10);
  for (int i = 0; i < 3; ++i) {
    clock.advance(10);
    wheel.expire(clock.now_ms(), [&](TimerNode* n) {
      ++fired;
      wheel.arm(n, clock.now_ms() + 10);
    });
  }
  EXPECT_EQ(fired, 3);
  EXPECT_TRUE(a.armed());
}

// A callback that disarms the node expiring next in the same slot (a backend timeout whose
// retry takes a pooled connection whose idle timer sits beside it) must neither crash nor
// fire that node.
TEST(TimerWheel, ExpiryCallbackMayDisarmTheNextDueNode) {
  ManualClock clock;
  TimerWheel wheel(clock.now_ms());
  TimerNode a = Owned(1), b = Owned(2), c = Owned(3);
  wheel.arm(&a, clock.now_ms() + 8);
  wheel.arm(&b, clock.now_ms() + 8);
  wheel.arm(&c, clock.now_ms() + 8);
  std::vector<uint32_t> fired;
  clock.advance(8);
  wheel.expire(clock.now_ms(), [&](TimerNode* n) {
    fired.push_back(n->owner);
    if (n == &a) {
      TimerWheel::disarm(&b);
    }
  });
  EXPECT_EQ(fired, (std::vector<uint32_t>{1, 3}));
  EXPECT_FALSE(b.armed());
  EXPECT_FALSE(c.armed());
}

// Disarming and re-arming other nodes (due or not) from a callback: each due node fires
// once, a node re-armed at or before now fires at the next expire, never in the same one.
TEST(TimerWheel, ExpiryCallbackMayArmAndDisarmAnyNode) {
  ManualClock clock;
  TimerWheel wheel(clock.now_ms());
  std::vector<TimerNode> nodes(64);
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    nodes[i].owner = i;
    wheel.arm(&nodes[i], clock.now_ms() + 4 * (i % 4));
  }
  clock.advance(12);
  std::vector<int> count(nodes.size(), 0);
  wheel.expire(clock.now_ms(), [&](TimerNode* n) {
    ++count[n->owner];
    uint32_t next = (n->owner + 1) % nodes.size();
    uint32_t other = (n->owner + 7) % nodes.size();
    TimerWheel::disarm(&nodes[next]);
    wheel.arm(&nodes[other], clock.now_ms());  // due now: next expire, not this one
    wheel.arm(n, clock.now_ms() - 4);          // behind the cursor: next expire too
  });
  for (int k : count) {
    EXPECT_LE(k, 1);
  }
  std::vector<int> armed(nodes.size(), 0);
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    armed[i] = nodes[i].armed() ? 1 : 0;
  }
  std::vector<int> again(nodes.size(), 0);
  wheel.expire(clock.now_ms(), [&](TimerNode* n) { ++again[n->owner]; });
  EXPECT_EQ(again, armed);  // every node left armed was due, and fires exactly once
  for (const TimerNode& n : nodes) {
    EXPECT_FALSE(n.armed());
  }
}

TEST(ShardCells, EachShardWritesItsOwnLinesAndReadersSum) {
  ShardCells<uint32_t> cells(3, 20);  // 20 cells of 4 bytes: two lines per shard
  for (uint32_t s = 0; s < 3; ++s) {
    for (uint32_t i = 0; i < 20; ++i) {
      EXPECT_EQ(cells.at(s, i).load(), 0u);
    }
  }
  cells.add(0, 19, 2);
  cells.add(2, 19, 5);
  cells.set(1, 19, 7);
  cells.add(1, 0, 1);
  EXPECT_EQ(cells.sum(19), 14u);
  EXPECT_EQ(cells.sum(0), 1u);
  // No two shards share a cache line.
  auto line = [&](uint32_t s, uint32_t i) {
    return reinterpret_cast<uintptr_t>(&cells.at(s, i)) / kCacheLine;
  };
  EXPECT_LT(line(0, 19), line(1, 0));
  EXPECT_LT(line(1, 19), line(2, 0));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(&cells.at(1, 0)) % kCacheLine, 0u);
}

TEST(BufPool, ReusesBuffersOfTheSameClassAndCompacts) {
  BufPool pool;
  IoBuf b;
  pool.get(b, 5000);
  EXPECT_EQ(b.cap, 8192u);
  char* first = b.data;
  std::memcpy(b.data, "hello", 5);
  b.tail = 5;
  b.head = 2;
  b.compact();
  EXPECT_EQ(std::string(b.data, b.size()), "llo");
  pool.put(b);
  EXPECT_FALSE(b.allocated());
  IoBuf c;
  pool.get(c, 8000);
#ifndef RINGWAY_PLAIN_POOLS
  EXPECT_EQ(c.data, first);
#else
  (void)first;
#endif
  pool.put(c);
}

// in_use(): buffers handed out and not put back (/v1/shards buffers_in_use); a get() on a
// buffer that has one and a put() of an empty one change nothing.
TEST(BufPool, CountsBuffersInUse) {
  BufPool pool;
  IoBuf a;
  IoBuf b;
  EXPECT_EQ(pool.in_use(), 0u);
  pool.get(a, 100);
  pool.get(a, 100);
  pool.get(b, 70000);
  EXPECT_EQ(pool.in_use(), 2u);
  pool.put(a);
  pool.put(a);
  EXPECT_EQ(pool.in_use(), 1u);
  pool.get(a, 100);  // from the cache this time
  pool.put(a);
  pool.put(b);
  EXPECT_EQ(pool.in_use(), 0u);
}

// Whether the page holding `p` is resident (mincore).
bool Resident(const void* p) {
  auto page = reinterpret_cast<uintptr_t>(p) & ~static_cast<uintptr_t>(4095);
  unsigned char v = 0;
  return mincore(reinterpret_cast<void*>(page), 4096, &v) == 0 && (v & 1) != 0;
}

#ifndef RINGWAY_PLAIN_POOLS
// A cached buffer no get() needed for a whole trim interval loses its pages (and reads as
// zeros when used again); one that was handed out in the interval keeps them.
TEST(BufPool, TrimReleasesBuffersIdleForAWholeInterval) {
  BufPool pool;
  IoBuf a, b;
  pool.get(a, 16384);
  pool.get(b, 16384);
  std::memset(a.data, 'a', a.cap);
  std::memset(b.data, 'b', b.cap);
  char* pa = a.data;
  char* pb = b.data;
  pool.put(a);  // the bottom of the cache
  pool.put(b);
  pool.trim();  // starts the first interval: nothing was idle for a whole one yet
  EXPECT_TRUE(Resident(pa));
  IoBuf c;
  pool.get(c, 16384);  // takes pb, the most recently cached
  EXPECT_EQ(c.data, pb);
  pool.put(c);
  pool.trim();
  EXPECT_FALSE(Resident(pa));  // idle all interval
  EXPECT_TRUE(Resident(pb));   // used in it
  pool.trim();
  EXPECT_FALSE(Resident(pb));  // idle for the interval after
  IoBuf d;
  pool.get(d, 16384);
  pool.get(c, 16384);
  EXPECT_EQ(c.data[0], 0);  // pages given back read as zeros
  EXPECT_EQ(d.data[100], 0);
  pool.put(c);
  pool.put(d);
}
#endif

struct Obj {
  uint64_t generation = 0;
  int value = 0;
  static inline int live = 0;
  Obj() { ++live; }
  ~Obj() { --live; }
};

// Queues `n` NOPs; returns how many CQEs are ready after `wait` ran (and consumes them).
template <class Wait>
unsigned NopsThenWait(ringway::core::Ring& ring, unsigned n, Wait wait) {
  for (unsigned i = 0; i < n; ++i) {
    io_uring_prep_nop(ring.sqe());
  }
  wait();
  unsigned ready = io_uring_cq_ready(ring.raw());
  io_uring_cq_advance(ring.raw(), ready);
  return ready;
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

TEST(Ring, BatchWaitSubmitsEverythingQueued) {
  ringway::core::Ring ring(64);
  EXPECT_EQ(NopsThenWait(ring, 5, [&] { ring.submit_and_wait_batch(10000, 5, 1000); }), 5u);
  EXPECT_EQ(NopsThenWait(ring, 40, [&] { ring.submit_and_wait_batch(10000, 40, 1000); }), 40u);
}

// Fewer completions than the batch: the wait settles for them after the batch window, not
// after the overall timeout (10 s here; the bound checked is half of it, a hang, not speed).
TEST(Ring, BatchWaitSettlesForFewerCompletions) {
  ringway::core::Ring ring(64);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(NopsThenWait(ring, 1, [&] { ring.submit_and_wait_batch(10000, 8, 1000); }), 1u);
  EXPECT_LT(SecondsSince(start), 5.0);
  // Nothing at all: returns at the overall timeout with nothing.
  EXPECT_EQ(NopsThenWait(ring, 0, [&] { ring.submit_and_wait_batch(20, 8, 1000); }), 0u);
  EXPECT_EQ(NopsThenWait(ring, 3, [&] { ring.submit_and_wait_batch(10000, 1, 0); }), 3u);
}

// A buffer ring with headroom: the kernel fills each buffer from buf(id), never the
// headroom before it, and a receive longer than a buffer stops at the buffer's size.
TEST(BufRing, ReceivesLeaveTheHeadroomUntouched) {
  ringway::core::Ring ring(64);
  ringway::core::BufRing bufs(ring, 3, 4, 8192, 512);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  std::string data(10000, 'x');
  ASSERT_EQ(write(sv[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  for (uint16_t id = 0; id < 4; ++id) {
    std::memset(bufs.buf(id) - bufs.headroom(), 'h', bufs.headroom());
  }
  io_uring_sqe* s = ring.sqe();
  io_uring_prep_recv(s, sv[0], nullptr, 65536, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = bufs.group();
  ring.submit_and_wait_batch(10000, 1, 0);
  io_uring_cqe* cqe = nullptr;
  ASSERT_EQ(io_uring_peek_cqe(ring.raw(), &cqe), 0);
  ASSERT_EQ(cqe->res, 8192);
  ASSERT_TRUE(cqe->flags & IORING_CQE_F_BUFFER);
  auto id = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
  io_uring_cqe_seen(ring.raw(), cqe);
  EXPECT_EQ(std::string(bufs.buf(id), 8192), data.substr(0, 8192));
  EXPECT_EQ(std::string(bufs.buf(id) - bufs.headroom(), bufs.headroom()),
            std::string(bufs.headroom(), 'h'));
  if (id + 1 < 4) {  // the next buffer's headroom follows this buffer's last byte
    EXPECT_EQ(bufs.buf(static_cast<uint16_t>(id + 1)) - bufs.buf(id), 8192 + 512);
  }
  close(sv[0]);
  close(sv[1]);
}

// One buffer-select receive of whatever is queued on `fd`: the CQE's result, and the buffer
// id in *id (-1 without a buffer).
int recv_selected(Ring& ring, BufRing& bufs, int fd, int* id) {
  io_uring_sqe* s = ring.sqe();
  io_uring_prep_recv(s, fd, nullptr, 65536, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = bufs.group();
  ring.submit_and_wait_batch(10000, 1, 0);
  io_uring_cqe* cqe = nullptr;
  if (io_uring_peek_cqe(ring.raw(), &cqe) != 0) {
    return INT_MIN;
  }
  int res = cqe->res;
  *id = (cqe->flags & IORING_CQE_F_BUFFER) ? static_cast<int>(cqe->flags >> IORING_CQE_BUFFER_SHIFT)
                                           : -1;
  io_uring_cqe_seen(ring.raw(), cqe);
  return res;
}

// A ring sized by use: it starts with `depth` buffers out, reuses the most recently
// recycled ones (so buffers it never needed stay untouched), and grows on -ENOBUFS.
TEST(BufRing, PostsOnlyItsDepthAndReusesWarmBuffers) {
  ringway::core::Ring ring(64);
  ringway::core::BufRing bufs(ring, 4, 8, 4096, 0, 2);
  EXPECT_EQ(bufs.depth(), 2u);
  EXPECT_EQ(bufs.used(), 2u);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int id = -1;
  // A hundred receives, each buffer recycled: only the first two buffers ever circle.
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(write(sv[1], "abc", 3), 3);
    ASSERT_EQ(recv_selected(ring, bufs, sv[0], &id), 3);
    ASSERT_TRUE(id == 0 || id == 1) << id;
    bufs.recycle(static_cast<uint16_t>(id));
    bufs.flush();
  }
  EXPECT_EQ(bufs.used(), 2u);
  // Two held: the third receive finds the ring empty.
  std::vector<uint16_t> held;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(write(sv[1], "abc", 3), 3);
    ASSERT_EQ(recv_selected(ring, bufs, sv[0], &id), 3);
    held.push_back(static_cast<uint16_t>(id));
  }
  ASSERT_EQ(write(sv[1], "abc", 3), 3);
  EXPECT_EQ(recv_selected(ring, bufs, sv[0], &id), -ENOBUFS);
  bufs.grow();
  bufs.grow();  // one per starved receive
  EXPECT_EQ(bufs.depth(), 4u);
  bufs.flush();
  EXPECT_EQ(recv_selected(ring, bufs, sv[0], &id), 3);
  EXPECT_GE(id, 2);
  EXPECT_EQ(bufs.used(), 4u);
  for (int i = 0; i < 9; ++i) {
    bufs.grow();
    bufs.flush();
  }
  EXPECT_EQ(bufs.depth(), 8u);  // never beyond count
  close(sv[0]);
  close(sv[1]);
}

// Held buffers (a connection's multishot receive delivered more than it could take): kept
// in arrival order, taken in pieces of any size, buffers given back to the ring as they
// empty, and dropped ones reusable. A real multishot receive on a socket pair.
TEST(BufRing, HeldBuffersKeepOrderAndGoBackWhenTakenOrDropped) {
  ringway::core::Ring ring(64);
  ringway::core::BufRing bufs(ring, 6, 4, 4096, 0, 3);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  io_uring_sqe* s = ring.sqe();
  io_uring_prep_recv_multishot(s, sv[0], nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = bufs.group();
  io_uring_sqe_set_data64(s, 7);
  ringway::core::HeldBufs q;
  EXPECT_TRUE(q.empty());
  // Three writes, three completions (the receive stays armed), all held.
  std::string sent;
  for (const char* piece : {"first-", "second--", "third"}) {
    ASSERT_EQ(write(sv[1], piece, strlen(piece)), static_cast<ssize_t>(strlen(piece)));
    sent += piece;
    ring.submit_and_wait_batch(10000, 1, 0);
    io_uring_cqe* cqe = nullptr;
    ASSERT_EQ(io_uring_peek_cqe(ring.raw(), &cqe), 0);
    ASSERT_EQ(cqe->res, static_cast<int>(strlen(piece)));
    ASSERT_TRUE(cqe->flags & IORING_CQE_F_MORE);
    bufs.hold(q, static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT),
              static_cast<uint32_t>(cqe->res));
    io_uring_cqe_seen(ring.raw(), cqe);
  }
  EXPECT_EQ(bufs.held(), 3u);
  // The ring (depth 3) is out of buffers now: a fourth write ends the receive.
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  ring.submit_and_wait_batch(10000, 1, 0);
  io_uring_cqe* cqe = nullptr;
  ASSERT_EQ(io_uring_peek_cqe(ring.raw(), &cqe), 0);
  EXPECT_EQ(cqe->res, -ENOBUFS);
  EXPECT_FALSE(cqe->flags & IORING_CQE_F_MORE);
  io_uring_cqe_seen(ring.raw(), cqe);
  // Taken in pieces of 4 bytes: the bytes in the order they came, none twice.
  std::string got;
  char piece[4];
  while (!q.empty()) {
    uint32_t n = bufs.take(q, piece, sizeof(piece));
    ASSERT_GT(n, 0u);
    got.append(piece, n);
  }
  EXPECT_EQ(got, sent);
  EXPECT_EQ(bufs.held(), 0u) << "a buffer taken to its end is no longer held";
  EXPECT_EQ(bufs.take(q, piece, sizeof(piece)), 0u);
  // Every emptied buffer went back: three receives fit again, and dropping them all gives
  // them back too (without their bytes).
  bufs.flush();
  int id = -1;
  EXPECT_EQ(recv_selected(ring, bufs, sv[0], &id), 1);  // the "x" that waited
  bufs.hold(q, static_cast<uint16_t>(id), 1);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(write(sv[1], "yz", 2), 2);
    ASSERT_EQ(recv_selected(ring, bufs, sv[0], &id), 2);
    bufs.hold(q, static_cast<uint16_t>(id), 2);
  }
  EXPECT_EQ(bufs.held(), 3u);
  bufs.drop(q);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(bufs.held(), 0u);
  bufs.flush();
  ASSERT_EQ(write(sv[1], "w", 1), 1);
  EXPECT_EQ(recv_selected(ring, bufs, sv[0], &id), 1);
  EXPECT_EQ(bufs.depth(), 3u);
  close(sv[0]);
  close(sv[1]);
}

// trim(): depth falls back by an eighth per interval without starved receives (not below
// the first depth), and buffers left on the stack for a whole interval lose their pages.
TEST(BufRing, TrimReleasesIdleBuffersAndLowersTheDepth) {
  ringway::core::Ring ring(64);
  ringway::core::BufRing bufs(ring, 5, 32, 4096, 0, 4);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int id = -1;
  std::vector<uint16_t> held;
  for (int i = 0; i < 16; ++i) {  // 16 held at once: depth follows, 16 buffers touched
    ASSERT_EQ(write(sv[1], "abc", 3), 3);
    int res = recv_selected(ring, bufs, sv[0], &id);
    if (res == -ENOBUFS) {
      bufs.grow();
      bufs.flush();
      res = recv_selected(ring, bufs, sv[0], &id);
    }
    ASSERT_EQ(res, 3);
    held.push_back(static_cast<uint16_t>(id));
  }
  EXPECT_EQ(bufs.depth(), 16u);
  EXPECT_EQ(bufs.used(), 16u);
  for (uint16_t h : held) {
    ASSERT_TRUE(Resident(bufs.buf(h)));
    bufs.recycle(h);
  }
  bufs.flush();  // all 16 posted again: depth is 16
  bufs.trim();   // grew in this interval: depth stays
  EXPECT_EQ(bufs.depth(), 16u);
  bufs.trim();  // no starved receive: depth 14
  EXPECT_EQ(bufs.depth(), 14u);
  // Receives now leave the two buffers beyond the depth on the stack...
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(write(sv[1], "abc", 3), 3);
    ASSERT_EQ(recv_selected(ring, bufs, sv[0], &id), 3);
    bufs.recycle(static_cast<uint16_t>(id));
    bufs.flush();
  }
  bufs.trim();
  bufs.trim();  // ...where they stay a whole interval and lose their pages
  int resident = 0;
  for (uint16_t h : held) {
    resident += Resident(bufs.buf(h)) ? 1 : 0;
  }
  EXPECT_EQ(resident, 14);
  for (int i = 0; i < 40; ++i) {
    bufs.trim();
  }
  EXPECT_EQ(bufs.depth(), 4u);
  close(sv[0]);
  close(sv[1]);
}

// Receives `n` bytes written on sv[1] into a buffer of `bufs`, told to the ring as the shard
// does (completed()), and returns the buffer's id (-1 on failure).
int receive_noted(Ring& ring, BufRing& bufs, const int sv[2], size_t n) {
  std::string data(n, 'w');
  int id = -1;
  if (write(sv[1], data.data(), n) != static_cast<ssize_t>(n) ||
      recv_selected(ring, bufs, sv[0], &id) != static_cast<int>(n) || id < 0) {
    return -1;
  }
  bufs.completed(static_cast<int>(n),
                 IORING_CQE_F_BUFFER | (static_cast<uint32_t>(id) << IORING_CQE_BUFFER_SHIFT));
  return id;
}

// After a whole trim interval of small receives only, a buffer that once took a wide one is
// parked when recycled (others circle instead) and the next trim() gives back its pages
// past the first kKeepBytes; a wide receive stops the parking at once.
TEST(BufRing, WideBuffersLoseTheirTailAfterAnIntervalOfSmallReceives) {
  ringway::core::Ring ring(64);
  ringway::core::BufRing bufs(ring, 6, 8, 65536, 512, 2);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  const int wide = receive_noted(ring, bufs, sv, 60000);
  ASSERT_GE(wide, 0);
  const char* tail = bufs.buf(static_cast<uint16_t>(wide)) + 40000;
  ASSERT_TRUE(Resident(tail));
  bufs.recycle(static_cast<uint16_t>(wide));
  bufs.flush();
  bufs.trim();  // this interval saw a wide receive
  // Small receives, each buffer recycled at once; counts those that landed in `wide`.
  auto small_rounds = [&](int rounds) {
    int hits = 0;
    for (int i = 0; i < rounds; ++i) {
      int id = receive_noted(ring, bufs, sv, 3);
      EXPECT_GE(id, 0);
      hits += id == wide ? 1 : 0;
      bufs.recycle(static_cast<uint16_t>(id < 0 ? 0 : id));
      bufs.flush();
    }
    return hits;
  };
  EXPECT_EQ(small_rounds(4), 2);  // two buffers out: the wide one circles
  EXPECT_EQ(bufs.parked(), 0u);   // the interval before had a wide receive: no parking yet
  bufs.trim();
  EXPECT_EQ(small_rounds(2), 1);  // it comes round again...
  EXPECT_EQ(bufs.parked(), 1u);   // ...and is parked
  EXPECT_TRUE(Resident(tail));
  EXPECT_EQ(small_rounds(6), 0);  // the others circle without it
  bufs.trim();
  EXPECT_EQ(bufs.parked(), 0u);
  EXPECT_FALSE(Resident(tail));
  EXPECT_TRUE(Resident(bufs.buf(static_cast<uint16_t>(wide))));  // its first page stays
  // A wide receive into another buffer ends the parking before the next trim().
  int other = receive_noted(ring, bufs, sv, 20000);
  ASSERT_GE(other, 0);
  bufs.recycle(static_cast<uint16_t>(other));
  EXPECT_EQ(bufs.parked(), 0u);
  close(sv[0]);
  close(sv[1]);
}

// Waits (bounded) for the next CQE and returns its result.
int next_result(Ring& ring) {
  ring.submit_and_wait_batch(10000, 1, 0);
  io_uring_cqe* cqe = nullptr;
  if (io_uring_peek_cqe(ring.raw(), &cqe) != 0) {
    return INT_MIN;
  }
  int res = cqe->res;
  io_uring_cqe_seen(ring.raw(), cqe);
  return res;
}

int send_fixed(Ring& ring, int fd, const char* text) {
  io_uring_sqe* s = ring.sqe();
  io_uring_prep_send(s, fd, text, std::strlen(text), MSG_NOSIGNAL);
  Ring::use_fixed(s, true);
  return next_result(ring);
}

TEST(Ring, FixedSlotMirrorsTheFdUntilUnfixed) {
  Ring ring(64);
  ASSERT_TRUE(ring.register_fd_table(1024));
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  EXPECT_EQ(send_fixed(ring, sv[0], "early"), -EBADF);  // the slot is still empty
  ASSERT_TRUE(ring.fix(sv[0]));                         // posts nothing on success
  ASSERT_EQ(send_fixed(ring, sv[0], "hello"), 5);
  char got[8] = {};
  ASSERT_EQ(recv(sv[1], got, sizeof(got), 0), 5);
  EXPECT_EQ(std::string(got, 5), "hello");
  // A plain close leaves the socket open: the slot holds a reference.
  ASSERT_EQ(close(sv[0]), 0);
  pollfd p{sv[1], POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0);
  ASSERT_EQ(send_fixed(ring, sv[0], "still"), 5);
  ASSERT_EQ(recv(sv[1], got, sizeof(got), 0), 5);
  // Clearing the slot drops the last reference: the peer sees end-of-stream.
  ring.unfix(sv[0]);
  io_uring_prep_nop(ring.sqe());  // a failed unfix would complete before it
  EXPECT_EQ(next_result(ring), 0);
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  EXPECT_EQ(recv(sv[1], got, sizeof(got), MSG_DONTWAIT), 0);
  EXPECT_FALSE(ring.fix(-1));
  EXPECT_FALSE(ring.fix(1024));  // beyond the table: the caller keeps the plain fd
  close(sv[1]);
}

TEST(Rcu, RetiredSnapshotIsFreedOnlyAfterEveryReaderMovedOn) {
  Obj::live = 0;
  {
    RcuDomain<Obj> rcu(2);
    rcu.publish(std::make_unique<Obj>());
    const Obj* first = rcu.current();
    rcu.report(0, first->generation);
    rcu.report(1, first->generation);
    rcu.publish(std::make_unique<Obj>());
    EXPECT_EQ(rcu.reclaim(), 1u);  // both readers may still use `first`
    EXPECT_EQ(Obj::live, 2);
    rcu.report(0, rcu.current()->generation);
    EXPECT_EQ(rcu.reclaim(), 1u);  // reader 1 has not passed a quiescent point
    rcu.report(1, rcu.current()->generation);
    EXPECT_EQ(rcu.reclaim(), 0u);
    EXPECT_EQ(Obj::live, 1);
  }
  EXPECT_EQ(Obj::live, 0);
}

TEST(Rcu, HeldOldGenerationBlocksReclaimAndStoppedReaderDoesNot) {
  Obj::live = 0;
  RcuDomain<Obj> rcu(2);
  rcu.publish(std::make_unique<Obj>());
  uint64_t g1 = rcu.current()->generation;
  rcu.publish(std::make_unique<Obj>());
  rcu.publish(std::make_unique<Obj>());
  rcu.report(0, g1);  // an in-flight request still holds generation 1
  rcu.report(1, RcuDomain<Obj>::kNone);
  EXPECT_EQ(rcu.reclaim(), 2u);
  rcu.report(0, g1 + 1);
  EXPECT_EQ(rcu.reclaim(), 1u);
  rcu.report(0, rcu.current()->generation);
  EXPECT_EQ(rcu.reclaim(), 0u);
}

TEST(Rcu, ConcurrentReadersNeverSeeFreedSnapshots) {
  RcuDomain<Obj> rcu(2);
  auto first = std::make_unique<Obj>();
  first->value = 42;
  rcu.publish(std::move(first));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0};
  std::vector<std::thread> readers;
  for (uint32_t r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      while (!stop.load()) {
        const Obj* o = rcu.current();
        rcu.report(r, o->generation);
        if (o->value != 42) {
          bad.fetch_add(1);
        }
      }
      rcu.report(r, RcuDomain<Obj>::kNone);
    });
  }
  for (int i = 0; i < 2000; ++i) {
    auto o = std::make_unique<Obj>();
    o->value = 42;
    rcu.publish(std::move(o));
    rcu.reclaim();
  }
  stop.store(true);
  for (auto& t : readers) {
    t.join();
  }
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(rcu.reclaim(), 0u);
}

TEST(Cpu, ListTextJoinsRuns) {
  EXPECT_EQ(cpu_list_text({}), "");
  EXPECT_EQ(cpu_list_text({1}), "1");
  EXPECT_EQ(cpu_list_text({0, 1}), "0-1");
  EXPECT_EQ(cpu_list_text({0, 2}), "0,2");
  EXPECT_EQ(cpu_list_text({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
}

TEST(Cpu, AllowedCpusIsTheThreadsMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  std::vector<int> expected;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) {
      expected.push_back(c);
    }
  }
  int err = -1;
  EXPECT_EQ(allowed_cpus(&err), expected);
  EXPECT_EQ(err, 0);
}

// On a thread of its own: pinning and naming change only the calling thread.
TEST(Cpu, PinAndNameTheCallingThread) {
  int err = 0;
  std::vector<int> before = allowed_cpus(&err);
  ASSERT_FALSE(before.empty());
  std::vector<int> pinned;
  char name[32] = {};
  std::thread t([&] {
    EXPECT_EQ(pin_thread(before.back()), 0);
    pinned = allowed_cpus(&err);
    EXPECT_EQ(name_thread("rw-shard-123456789"), 0);  // cut to 15 characters
    pthread_getname_np(pthread_self(), name, sizeof(name));
  });
  t.join();
  EXPECT_EQ(pinned, std::vector<int>{before.back()});
  EXPECT_STREQ(name, "rw-shard-123456");
  EXPECT_EQ(allowed_cpus(&err), before);
}

}  // namespace
}  // namespace ringway::core
