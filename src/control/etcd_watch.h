// The etcd config source (issue 20, CONFIG.md config_source.etcd) on the control loop's ring:
// reads every key under the prefix at one revision (/v3/kv/range), then watches from the
// next revision (/v3/watch) and applies the events to its copy of the objects. A burst of
// events is coalesced: changes are handed over kCoalesceMs after the first of them.
//
// With `tls` (a client_ssl object: the CA that signed etcd's certificate, and a client
// certificate when etcd asks for one) the connection is TLS through tls::Stream, the server
// certificate checked for the endpoint's host (an IP address against its IP SANs).
//
// One connection at a time, one operation in flight on it (connect, send or receive), each
// but the watch's receives bounded by timeout_ms with a linked timeout. A failure (refused,
// reset, timeout, an error answer, a canceled watch) closes the connection and retries after
// a backoff (100 ms doubling to 5 s) on the next endpoint, with a full read again: a
// compacted watch revision or a reconnect never misses a change. Failures are logged once,
// then at most once per kLogEveryMs while they last.
//
// Thread affinity: control thread only, on the ring it is given. user_data: `tag | payload`
// with payload [39..8] connection generation, [7..0] OpKind: a completion of an older
// connection is recognised and dropped.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/buf_pool.h"
#include "core/ring.h"
#include "ringway/admin.h"
#include "ringway/clock.h"
#include "ringway/config.h"
#include "ringway/tls.h"

namespace ringway::control {

class EtcdWatch {
 public:
  static constexpr uint64_t kCoalesceMs = 20;
  static constexpr uint64_t kFirstBackoffMs = 100;
  static constexpr uint64_t kMaxBackoffMs = 5000;
  static constexpr uint64_t kLogEveryMs = 10000;
  // A range answer larger than this is refused (the configuration file's own bound, twice:
  // base64 and JSON framing).
  static constexpr size_t kMaxAnswerBytes = 128u << 20;

  // `status` is what the admin API shows; it and `ring` outlive the watch. Starts reading
  // at once. Throws tls::FileError when cfg.tls's files cannot be loaded (start-up).
  EtcdWatch(const Clock& clock, core::Ring& ring, uint64_t tag, const config::EtcdSource& cfg,
            admin::ConfigSourceStatus& status);
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  void on_completion(uint64_t user_data, int res);
  // Starts a retry that is due. Returns true when changed objects are ready to assemble
  // (a range read, or watched events whose coalescing window has passed); the caller
  // installs objects() and revision() and the flag clears.
  bool poll(uint64_t now);
  // The next time poll() has work (clock ms), or UINT64_MAX.
  uint64_t next_due() const;

  // Relative keys ("apis/get_order") to their values, as of revision().
  const std::map<std::string, std::string>& objects() const { return objects_; }
  int64_t revision() const { return revision_; }
  // A first range read has completed.
  bool has_read() const { return read_once_; }

 private:
  enum class OpKind : uint8_t { kConnect, kSend, kRecv, kTimeout };
  enum class Mode : uint8_t { kRange, kWatch };
  enum class Phase : uint8_t { kIdle, kConnect, kSend, kRecv };

  uint64_t encode(OpKind kind) const;
  void begin(Mode mode);
  void arm(OpKind kind, bool with_timeout);
  void on_connected(int res);
  void on_sent(int res);
  void on_received(int res);
  void at_eof();
  // The bytes in rx_ so far: false after a failure or a new read (stop this connection).
  bool take_bytes();
  // TLS: the handshake, then the request, then receives; sends what the engine has.
  void tls_step();
  void tls_received(int res);
  bool take_range();
  bool take_watch_lines();
  void fail(const std::string& reason);
  void close_fd();

  const Clock& clock_;
  core::Ring& ring_;
  uint64_t tag_;
  const config::EtcdSource cfg_;
  admin::ConfigSourceStatus& status_;
  std::map<std::string, std::string> objects_;
  int64_t revision_ = 0;
  bool read_once_ = false;
  bool ready_ = false;              // changes not yet handed over
  uint64_t ready_at_ = UINT64_MAX;  // when they may be (coalescing)
  Mode mode_ = Mode::kRange;
  Phase phase_ = Phase::kIdle;
  int fd_ = -1;
  uint32_t gen_ = 0;
  size_t endpoint_ = 0;
  uint64_t deadline_ = 0;  // of the connection's bounded operations
  uint64_t retry_at_ = UINT64_MAX;
  uint64_t backoff_ms_ = kFirstBackoffMs;
  uint64_t failures_since_log_ = 0;
  uint64_t last_log_ = 0;
  bool failing_ = false;
  std::string request_;
  size_t sent_ = 0;
  std::string rx_;           // the answer so far (watch: from the unparsed line)
  bool head_done_ = false;   // watch: the HTTP head has been checked
  sockaddr_storage addr_{};  // read by the kernel when the connect is submitted
  socklen_t addr_len_ = 0;
  __kernel_timespec timeout_{};  // read by the kernel when the linked timeout is queued
  char buf_[16384];
  // TLS (cfg.tls): the context, the engine of the current connection and its buffers.
  std::unique_ptr<core::BufPool> pool_;
  std::unique_ptr<tls::ClientContext> tls_ctx_;
  std::unique_ptr<tls::Stream> tls_;
  bool request_written_ = false;
  char plain_[16384];
};

}  // namespace ringway::control
