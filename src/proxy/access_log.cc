// AccessLog (access_log.h): line format, buffers and the io_uring writes of a shard.
#include "proxy/access_log.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

#include "core/user_data.h"
#include "proxy/shard_core.h"
#include "ringway/buffer.h"
#include "ringway/http.h"
#include "ringway/log.h"

namespace ringway::proxy {
namespace {

constexpr size_t kMaxName = 256;  // escaped bytes kept of an API name, environment, label

// "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) of `unix_ms` (days to civil date: H. Hinnant's algorithm).
void put_time(int64_t unix_ms, Writer& w) {
  int64_t secs = unix_ms / 1000;
  const int64_t ms = unix_ms % 1000;
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  days += 719468;
  const int64_t era = days / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char t[24];
  auto two = [&t](int at, int64_t v) {
    t[at] = static_cast<char>('0' + v / 10);
    t[at + 1] = static_cast<char>('0' + v % 10);
  };
  two(0, y / 100);
  two(2, y % 100);
  t[4] = '-';
  two(5, m);
  t[7] = '-';
  two(8, d);
  t[10] = 'T';
  two(11, sod / 3600);
  t[13] = ':';
  two(14, sod / 60 % 60);
  t[16] = ':';
  two(17, sod % 60);
  t[19] = '.';
  t[20] = static_cast<char>('0' + ms / 100);
  two(21, ms % 100);
  t[23] = 'Z';
  w.put(std::string_view(t, sizeof(t)));
}

// Microseconds as milliseconds with three decimals.
void put_ms(uint64_t us, Writer& w) {
  w.put_uint(us / 1000);
  const uint64_t frac = us % 1000;
  const char d[4] = {'.', static_cast<char>('0' + frac / 100),
                     static_cast<char>('0' + frac / 10 % 10), static_cast<char>('0' + frac % 10)};
  w.put(std::string_view(d, 4));
}

void put_str(std::string_view key, std::string_view v, size_t max, Writer& w) {
  w.put(key);
  w.put('"');
  http::put_json_escaped(v, max, w);
  w.put('"');
}

void put_label(std::string_view key, const char* v, Writer& w) {
  w.put(key);
  if (v == nullptr) {
    w.put("null");
  } else {
    w.put('"');
    http::put_json_escaped(v, kMaxName, w);
    w.put('"');
  }
}

// "ip:port" of a backend address ("[v6]:port"), or nothing for another family.
void put_address(const BackendKey& k, Writer& w) {
  char ip[INET6_ADDRSTRLEN] = {};
  if (k.addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&k.addr);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    w.put(std::string_view(ip));
    w.put(':');
    w.put_uint(ntohs(a->sin_port));
  } else if (k.addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&k.addr);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
    w.put('[');
    w.put(std::string_view(ip));
    w.put("]:");
    w.put_uint(ntohs(a->sin6_port));
  }
}

}  // namespace

AccessLog::AccessLog(uint32_t shard, ShardContext* ctx) : shard_(shard), ctx_(ctx) {
  for (Buf& b : bufs_) {
    b.data = std::make_unique<char[]>(kBufSize);
  }
}

bool AccessLog::enabled() const {
  return fd_ >= 0 ||
         access_log_file::fd_of(ctx_->access_log_file.load(std::memory_order_relaxed)) >= 0;
}

void AccessLog::log(core::Ring& ring, const ClientConn& c, std::string_view client,
                    std::string_view api, std::string_view environment, int64_t unix_ms,
                    uint64_t now_us) {
  Buf& b = bufs_[fill_];
  if (b.len + kMaxLine > kBufSize) {
    if (writing_ || fd_ < 0) {  // fd_ < 0: a file published this turn, adopted at its end
      drop(1);
      return;
    }
    start_write(ring);
  }
  Buf& f = bufs_[fill_];
  const ExchangeTrace& t = c.x.trace;
  Writer w(f.data.get() + f.len, kMaxLine);
  w.put("{\"time\":\"");
  put_time(unix_ms, w);
  put_str("\",\"request_id\":", c.x.rid(), Exchange::kMaxRequestId, w);
  put_str(",\"client\":", client, kMaxName, w);
  w.put(',');
  if (t.request.size() > 0) {
    w.put(std::string_view(t.request.data + t.request.head, t.request.size()));
  } else {
    w.put("\"method\":\"\",\"path\":\"\"");
  }
  w.put(",\"status\":");
  w.put_uint(t.status);
  put_str(",\"api\":", api, kMaxName, w);
  put_str(",\"environment\":", environment, kMaxName, w);
  w.put(",\"member\":\"");
  if (t.backend) {
    put_address(c.x.dest, w);
  }
  w.put("\",\"attempts\":");
  w.put_uint(t.attempts);
  put_label(",\"breaker\":", t.breaker != nullptr ? t.breaker->c_str() : nullptr, w);
  put_label(",\"downgrade\":", t.downgrade, w);
  put_label(",\"upgrade\":", t.upgrade_us != 0 ? t.upgrade : nullptr, w);
  w.put(",\"bytes_in\":");
  w.put_uint(t.bytes_in);
  w.put(",\"bytes_out\":");
  w.put_uint(t.bytes_out);
  w.put(",\"total_ms\":");
  put_ms(now_us > t.start_us ? now_us - t.start_us : 0, w);
  w.put(",\"backend_ms\":");
  const bool backend_timed = t.backend_start_us != 0 && t.backend_end_us >= t.backend_start_us;
  put_ms(backend_timed ? t.backend_end_us - t.backend_start_us : 0, w);
  w.put("}\n");
  if (!w.ok()) {
    drop(1);  // bounded fields keep a line under kMaxLine: not expected
    return;
  }
  f.len += static_cast<uint32_t>(w.size());
  ++f.lines;
  if (!writing_ && f.len >= kBufSize / 2 && fd_ >= 0) {
    start_write(ring);
  }
}

void AccessLog::tick(core::Ring& ring, uint64_t now_ms, bool force) {
  if (writing_) {
    return;
  }
  Buf& b = bufs_[fill_];
  const uint64_t word = ctx_->access_log_file.load(std::memory_order_acquire);
  if (word != word_) {
    if (b.len > 0 && fd_ >= 0) {
      start_write(ring);  // lines logged under the old file go there; adopted after it
      return;
    }
    adopt(word);
  }
  if (b.len == 0) {
    first_seen_ms_ = 0;
    return;
  }
  if (fd_ < 0) {
    drop(b.lines);  // the access log was switched off
    b.len = b.lines = 0;
    return;
  }
  if (first_seen_ms_ == 0) {
    first_seen_ms_ = now_ms;
  }
  if (force || b.len >= kBufSize / 2 || now_ms >= first_seen_ms_ + kFlushDelayMs) {
    start_write(ring);
  }
}

void AccessLog::adopt(uint64_t word) {
  word_ = word;
  fd_ = access_log_file::fd_of(word);
  ctx_->access_log_gen.at(shard_, 0).store(access_log_file::generation_of(word),
                                           std::memory_order_release);
}

void AccessLog::start_write(core::Ring& ring) {
  writing_ = true;
  write_off_ = 0;
  write_fd_ = fd_;
  fill_ ^= 1;
  first_seen_ms_ = 0;
  submit(ring);
}

void AccessLog::submit(core::Ring& ring) {
  const Buf& b = bufs_[fill_ ^ 1];
  io_uring_sqe* s = ring.sqe();
  // Offset -1: the file position, which O_APPEND puts at the end for every write.
  io_uring_prep_write(s, write_fd_, b.data.get() + write_off_, b.len - write_off_,
                      static_cast<uint64_t>(-1));
  io_uring_sqe_set_data64(s, core::encode(core::Op::kAccessLogWrite, 0, 0));
}

void AccessLog::on_write(core::Ring& ring, int res) {
  Buf& b = bufs_[fill_ ^ 1];
  if (res == -EINTR || res == -EAGAIN) {
    submit(ring);
    return;
  }
  if (res > 0) {
    write_off_ += static_cast<uint32_t>(res);
    if (write_off_ < b.len) {
      submit(ring);  // a short write: the rest
      return;
    }
  } else {
    if (res != -ECANCELED && !failure_logged_) {
      failure_logged_ = true;
      RW_WARN("shard %u: access log write failed: %s (lines are dropped and counted)", shard_,
              res == 0 ? "no progress" : strerror(-res));
    }
    drop(b.lines);
  }
  b.len = b.lines = 0;
  writing_ = false;
}

void AccessLog::drop(uint64_t lines) { ctx_->access_log_dropped.add(shard_, 0, lines); }

void AccessLog::retire() {
  ctx_->access_log_gen.at(shard_, 0).store(UINT64_MAX, std::memory_order_release);
}

}  // namespace ringway::proxy
