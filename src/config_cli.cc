// `ringway config push|diff`: the shared objects of a configuration file (CONFIG.md,
// config_source) against what etcd holds under a prefix.
//
// push validates the file as a node would, reads the prefix (revision R), and writes every
// added or changed object, deletes objects the file no longer has and stamps `<prefix>_push`,
// all in one transaction guarded by "no key under the prefix modified after R": a concurrent
// push (which also stamps) or edit makes it fail whole, and it is run again.
// diff does the same read and comparison and prints it, with diff(1)'s exit codes.
//
// A CLI, not the data plane: blocking sockets with poll() deadlines, one request each; TLS
// (--cacert, --cert, --key, etcdctl's names) through the gateway's own tls::Stream.
#include "config_cli.h"

#include <netdb.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/buf_pool.h"
#include "ringway/clock.h"
#include "ringway/config.h"
#include "ringway/config_source.h"
#include "ringway/etcd.h"
#include "ringway/tls.h"

namespace ringway {
namespace {

constexpr const char* kConfigUsage =
    "usage: ringway config push -c FILE --etcd HOST:PORT --prefix /P/ [--timeout-ms N]\n"
    "                           [--cacert FILE] [--cert FILE --key FILE]\n"
    "       ringway config diff (the same options)\n"
    "--cacert, --cert, --key: TLS to etcd (its CA; a client certificate and key).\n"
    "push writes the shared objects of FILE (environments, apps, channels, policies, apis,\n"
    "bindings) to etcd under the prefix in one guarded transaction; diff lists what differs\n"
    "(+ added, ~ changed, - deleted). Exit: push 0 done, 1 invalid file or etcd changed under\n"
    "the push, 2 usage or etcd error; diff 0 same, 1 differ, 2 error.\n";

// Exit statuses.
constexpr int kOk = 0;
constexpr int kRefused = 1;  // invalid file, guard failed; diff: differences
constexpr int kTrouble = 2;  // usage, etcd unreachable or answering an error

struct Options {
  std::string command;  // "push" or "diff"
  std::string file;
  std::string host;  // without brackets
  std::string port;
  std::string endpoint;  // as given, for messages and the Host header
  std::string prefix;
  int timeout_ms = 5000;
  config::TlsFiles tls_files;               // --cacert, --cert, --key
  std::unique_ptr<tls::ClientContext> tls;  // set when any of them is given
};

// A deadline in milliseconds on ringway's monotonic scale (monotonic_us).
using Deadline = uint64_t;

Deadline deadline_after(int ms) { return monotonic_us() / 1000 + static_cast<uint64_t>(ms); }

// ---- arguments ----

// "host:port" or "[v6]:port" with a port 1-65535.
bool split_endpoint(std::string_view s, Options* o) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  std::string_view host = s.substr(0, colon);
  std::string_view port = s.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  long n = 0;
  for (char c : port) {
    if (c < '0' || c > '9' || (n = n * 10 + (c - '0')) > 65535) {
      return false;
    }
  }
  if (host.empty() || port.empty() || n == 0) {
    return false;
  }
  o->host = host;
  o->port = port;
  o->endpoint = s;
  return true;
}

// The prefix rule of config_source.etcd.prefix (CONFIG.md): "" or the problem.
std::string check_prefix(std::string_view p) {
  if (p.size() < 2 || p.size() > 256 || p.front() != '/' || p.back() != '/') {
    return "--prefix must start and end with \"/\" and be 2-256 bytes, like /ringway/prod/";
  }
  for (char c : p) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return "--prefix must not contain spaces or control characters";
    }
  }
  return "";
}

// Fills `o` from argv[2..]; prints the problem and returns false on a usage error.
// The TLS context when --cacert, --cert or --key is given; false (reported) when a file is
// missing or bad, or a certificate comes without its key.
bool make_tls(Options* o) {
  const config::TlsFiles& f = o->tls_files;
  if (f.ca.empty() && f.certificate.empty() && f.private_key.empty()) {
    return true;
  }
  if (f.certificate.empty() != f.private_key.empty()) {
    std::fputs("error: --cert and --key go together\n", stderr);
    return false;
  }
  try {
    o->tls = std::make_unique<tls::ClientContext>(f, 1);
  } catch (const tls::FileError& e) {
    std::fprintf(stderr, "error: TLS files: %s: %s\n", e.field.c_str(), e.message.c_str());
    return false;
  }
  return true;
}

bool parse_options(int argc, char** argv, Options* o) {
  if (argc < 3 || (std::strcmp(argv[2], "push") != 0 && std::strcmp(argv[2], "diff") != 0)) {
    std::fputs(kConfigUsage, stderr);
    return false;
  }
  o->command = argv[2];
  for (int i = 3; i < argc; i += 2) {
    std::string_view k = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    char* end = nullptr;
    if (v == nullptr) {
      std::fputs(kConfigUsage, stderr);
      return false;
    } else if (k == "-c" || k == "--config") {
      o->file = v;
    } else if (k == "--etcd") {
      if (!split_endpoint(v, o)) {
        std::fprintf(stderr, "error: --etcd must be HOST:PORT (got \"%s\")\n", v);
        return false;
      }
    } else if (k == "--prefix") {
      o->prefix = v;
    } else if (k == "--cacert" || k == "--cert" || k == "--key") {
      (k == "--cacert" ? o->tls_files.ca
       : k == "--cert" ? o->tls_files.certificate
                       : o->tls_files.private_key) = v;
    } else if (k == "--timeout-ms") {
      long n = std::strtol(v, &end, 10);
      if (end == v || *end != '\0' || n < 100 || n > 600000) {
        std::fprintf(stderr, "error: --timeout-ms must be 100-600000 (got \"%s\")\n", v);
        return false;
      }
      o->timeout_ms = static_cast<int>(n);
    } else {
      std::fputs(kConfigUsage, stderr);
      return false;
    }
  }
  if (o->file.empty() || o->endpoint.empty() || o->prefix.empty()) {
    std::fputs(kConfigUsage, stderr);
    return false;
  }
  std::string problem = check_prefix(o->prefix);
  if (!problem.empty()) {
    std::fprintf(stderr, "error: %s (got \"%s\")\n", problem.c_str(), o->prefix.c_str());
    return false;
  }
  return make_tls(o);
}

// ---- etcd over HTTP/1.0 ----

int ms_left(Deadline deadline) {
  uint64_t now = monotonic_us() / 1000;
  return deadline > now ? static_cast<int>(deadline - now) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout or error (errno set).
bool wait_fd(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, ms_left(deadline));
    if (n > 0) {
      return true;
    }
    if (n == 0) {
      errno = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) {
      return false;
    }
  }
}

// A connected non-blocking socket to one address, or -1 (errno set).
int connect_one(const addrinfo* ai, Deadline deadline) {
  int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
    return fd;
  }
  int err = errno;
  if (err == EINPROGRESS && wait_fd(fd, POLLOUT, deadline)) {
    socklen_t len = sizeof(err);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0) {
      return fd;
    }
  } else if (err == EINPROGRESS) {
    err = errno;
  }
  ::close(fd);
  errno = err;
  return -1;
}

// Connects to the first address of HOST:PORT that accepts; -1 with *error otherwise.
int connect_endpoint(const Options& o, Deadline deadline, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int rc = ::getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &list);
  if (rc != 0) {
    *error = "cannot resolve " + o.host + ": " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  int err = 0;
  for (const addrinfo* ai = list; ai != nullptr && fd < 0 && ms_left(deadline) > 0;
       ai = ai->ai_next) {
    fd = connect_one(ai, deadline);
    err = fd < 0 ? errno : 0;
  }
  ::freeaddrinfo(list);
  if (fd < 0) {
    *error = "cannot connect to etcd at " + o.endpoint + ": " +
             (err == 0 ? std::string("timed out") : std::strerror(err));
  }
  return fd;
}

// Sends all of `bytes`; false with *error.
bool send_all(int fd, std::string_view bytes, Deadline deadline, std::string* error) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
    } else if ((n < 0 && errno != EAGAIN && errno != EINTR) || !wait_fd(fd, POLLOUT, deadline)) {
      *error = std::string("sending to etcd: ") + std::strerror(errno);
      return false;
    }
  }
  return true;
}

// Up to `room` bytes: > 0, 0 at EOF, -1 with *error.
ssize_t recv_some(int fd, char* buf, size_t room, Deadline deadline, std::string* error) {
  for (;;) {
    ssize_t n = ::recv(fd, buf, room, 0);
    if (n >= 0) {
      return n;
    }
    if ((errno != EAGAIN && errno != EINTR) || !wait_fd(fd, POLLIN, deadline)) {
      *error = std::string("reading etcd's answer: ") + std::strerror(errno);
      return -1;
    }
  }
}

// Sends `request` and reads the answer up to EOF (HTTP/1.0: etcd closes after it).
bool exchange(int fd, std::string_view request, Deadline deadline, std::string* answer,
              std::string* error) {
  if (!send_all(fd, request, deadline, error)) {
    return false;
  }
  char buf[16384];
  for (;;) {
    ssize_t n = recv_some(fd, buf, sizeof(buf), deadline, error);
    if (n <= 0) {
      return n == 0;
    }
    answer->append(buf, static_cast<size_t>(n));
  }
}

// The TLS handshake on `st` over fd; false with *error.
bool tls_handshake(int fd, tls::Stream& st, Deadline deadline, std::string* error) {
  auto step = [&st] {
    return st.handshake_done() || st.out_size() > 0 || st.handshake() != tls::Stream::Step::kFailed;
  };
  char buf[16384];
  bool ok = step();
  while (ok && !st.handshake_done()) {
    ok = send_all(fd, {st.out_data(), st.out_size()}, deadline, error);
    st.out_sent(st.out_size());
    ssize_t n = ok ? recv_some(fd, buf, sizeof(buf), deadline, error) : -1;
    if (n <= 0) {
      ok = false;
      break;
    }
    st.input(buf, static_cast<uint32_t>(n));
    ok = step();
    st.keep_rest();
  }
  if (!ok) {
    *error = "TLS handshake with etcd failed: " + (error->empty() ? st.error() : *error);
    return false;
  }
  ok = send_all(fd, {st.out_data(), st.out_size()}, deadline, error);
  st.out_sent(st.out_size());
  return ok;
}

// exchange() through TLS: the handshake, the request encrypted, the answer decrypted up to
// EOF or close_notify.
bool tls_exchange(int fd, const Options& o, std::string_view request, Deadline deadline,
                  std::string* answer, std::string* error) {
  core::BufPool pool;
  tls::Stream st(pool);
  if (!st.start_client(o.tls->ctx(0), o.host, nullptr) || !tls_handshake(fd, st, deadline, error)) {
    return error->empty() ? (*error = "TLS: out of memory", false) : false;
  }
  while (!request.empty()) {
    int n =
        st.write(request.data(), static_cast<uint32_t>(std::min<size_t>(request.size(), 16384)));
    if (n <= 0 || !send_all(fd, {st.out_data(), st.out_size()}, deadline, error)) {
      *error = error->empty() ? "TLS write: " + st.error() : *error;
      return false;
    }
    st.out_sent(st.out_size());
    request.remove_prefix(static_cast<size_t>(n));
  }
  char buf[16384];
  char plain[16384];
  for (;;) {
    ssize_t n = recv_some(fd, buf, sizeof(buf), deadline, error);
    if (n <= 0) {
      return n == 0;
    }
    st.input(buf, static_cast<uint32_t>(n));
    int m = 0;
    while ((m = st.read(plain, sizeof(plain))) > 0) {
      answer->append(plain, static_cast<size_t>(m));
    }
    st.keep_rest();
    if (m == -1) {
      return true;  // close_notify: the answer is complete
    }
    if (m == -2) {
      *error = "TLS: " + st.error();
      return false;
    }
  }
}

// POSTs `body` to `path`; the answer's body when etcd says 200, else false with *error.
bool etcd_post(const Options& o, std::string_view path, std::string_view body, std::string* out,
               std::string* error) {
  Deadline deadline = deadline_after(o.timeout_ms);
  int fd = connect_endpoint(o, deadline, error);
  if (fd < 0) {
    return false;
  }
  std::string raw;
  const std::string request = etcd::http_request(o.endpoint, path, body);
  bool ok = o.tls ? tls_exchange(fd, o, request, deadline, &raw, error)
                  : exchange(fd, request, deadline, &raw, error);
  ::close(fd);
  if (!ok) {
    *error += " (etcd at " + o.endpoint + ", timeout " + std::to_string(o.timeout_ms) + " ms)";
    return false;
  }
  std::optional<etcd::HttpAnswer> a = etcd::split_response(raw);
  if (!a) {
    *error = "etcd at " + o.endpoint + " did not answer HTTP";
    return false;
  }
  if (a->status != 200) {
    // etcd's errors are {"error","message","code"}; anything else is quoted as it came.
    std::string message = etcd::parse_txn(a->body).error;
    if (message.empty() || message == "etcd: malformed answer") {
      message = "\"" + std::string(a->body.substr(0, 200)) + "\"";
    }
    *error = "etcd at " + o.endpoint + " answered " + std::to_string(a->status) + ": " + message;
    return false;
  }
  *out = std::string(a->body);
  return true;
}

// ---- the file ----

bool read_file(const std::string& path, std::string* text) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return false;
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  *text = ss.str();
  return static_cast<bool>(f) || f.eof();
}

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// `text` with stub `instance` and `listeners` members when it lacks them: a file of only
// `version` and shared sections is validated as the shared part of a node's document. The
// stubs go first, so the paths of the file's own members are unchanged.
std::string with_stubs(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(text).get_object().get(root) != simdjson::SUCCESS) {
    return text;  // the loader reports it
  }
  std::string stubs;
  if (root.at_key("instance").error() == simdjson::NO_SUCH_FIELD) {
    stubs += "\"instance\":{\"id\":\"config-push\"},";
  }
  if (root.at_key("listeners").error() == simdjson::NO_SUCH_FIELD) {
    stubs += "\"listeners\":[{\"name\":\"config-push\",\"address\":\"127.0.0.1:0\"}],";
  }
  if (stubs.empty()) {
    return text;
  }
  if (root.size() == 0) {
    stubs.pop_back();  // no member follows
  }
  size_t brace = text.find('{');
  return text.substr(0, brace + 1) + stubs + text.substr(brace + 1);
}

// The shared objects of the file, validated as a node would; false after printing why.
bool load_desired(const Options& o, std::vector<config::SharedObject>* objects) {
  std::string text;
  if (!read_file(o.file, &text)) {
    std::fprintf(stderr, "config error: cannot read %s: %s\n", o.file.c_str(),
                 std::strerror(errno));
    return false;
  }
  config::LoadResult r = config::load_assembled(with_stubs(text), dir_of(o.file));
  std::vector<config::Error> errors = r.errors;
  if (errors.empty()) {
    *objects = config::split_shared(text, &errors);
  }
  for (const config::Error& e : errors) {
    std::fprintf(stderr, "config error: %s\n", e.str().c_str());
  }
  if (!errors.empty()) {
    std::fprintf(stderr, "%zu configuration error(s) in %s%s\n", errors.size(), o.file.c_str(),
                 o.command == "push" ? ": nothing written" : "");
    return false;
  }
  return true;
}

// ---- comparison ----

// The minified JSON of `value`, or `value` itself when it is not JSON (then it differs from
// any object of the file).
std::string minified(simdjson::dom::parser& parser, const std::string& value) {
  simdjson::dom::element e;
  if (parser.parse(value).get(e) != simdjson::SUCCESS) {
    return value;
  }
  return simdjson::minify(e);
}

struct Current {
  int64_t revision = 0;
  std::map<std::string, std::string> objects;  // relative key -> minified value
};

// Reads every object under the prefix; false with *error.
bool read_current(const Options& o, Current* c, std::string* error) {
  std::string body;
  if (!etcd_post(o, "/v3/kv/range", etcd::range_body(o.prefix), &body, error)) {
    return false;
  }
  etcd::RangeResult r = etcd::parse_range(body);
  if (!r.error.empty()) {
    *error = r.error + " (etcd at " + o.endpoint + ")";
    return false;
  }
  c->revision = r.revision;
  simdjson::dom::parser parser;
  for (const etcd::KeyValue& kv : r.kvs) {
    std::string key = kv.key.substr(o.prefix.size());
    if (kv.key.compare(0, o.prefix.size(), o.prefix) != 0 || key.empty() || key[0] == '_') {
      continue;  // reserved for the tools (the push stamp), not an object
    }
    c->objects[key] = minified(parser, kv.value);
  }
  return true;
}

struct Changes {
  std::vector<const config::SharedObject*> added;
  std::vector<const config::SharedObject*> changed;
  std::vector<std::string> deleted;  // relative keys, in key order
  size_t size() const { return added.size() + changed.size() + deleted.size(); }
};

Changes compare(const std::vector<config::SharedObject>& desired, const Current& current) {
  Changes c;
  std::map<std::string_view, bool> wanted;
  for (const config::SharedObject& obj : desired) {
    wanted[obj.key] = true;
    auto it = current.objects.find(obj.key);
    if (it == current.objects.end()) {
      c.added.push_back(&obj);
    } else if (it->second != obj.value) {
      c.changed.push_back(&obj);
    }
  }
  for (const auto& kv : current.objects) {
    if (wanted.find(kv.first) == wanted.end()) {
      c.deleted.push_back(kv.first);
    }
  }
  return c;
}

// ---- push ----

// The value of `<prefix>_push`: when, from where and how many objects.
std::string push_stamp(size_t objects) {
  std::time_t t = static_cast<std::time_t>(SteadyClock().unix_s());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char at[32];
  std::strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
  char host[256] = "";
  ::gethostname(host, sizeof(host) - 1);
  std::string h;
  for (const char* p = host; *p != '\0'; ++p) {
    if (*p != '"' && *p != '\\' && static_cast<unsigned char>(*p) >= ' ') {
      h += *p;  // a JSON string without escapes
    }
  }
  return "{\"at\":\"" + std::string(at) + "\",\"host\":\"" + h +
         "\",\"objects\":" + std::to_string(objects) + "}";
}

etcd::TxnOps push_ops(const Options& o, const Changes& c, int64_t revision, size_t objects) {
  etcd::TxnOps ops;
  ops.prefix = o.prefix;
  ops.read_revision = revision;
  for (const auto* list : {&c.added, &c.changed}) {
    for (const config::SharedObject* obj : *list) {
      ops.puts.emplace_back(o.prefix + obj->key, obj->value);
    }
  }
  ops.puts.emplace_back(o.prefix + std::string(config::kPushStampKey), push_stamp(objects));
  for (const std::string& key : c.deleted) {
    ops.deletes.push_back(o.prefix + key);
  }
  return ops;
}

int push(const Options& o, const std::vector<config::SharedObject>& desired, const Current& cur) {
  Changes c = compare(desired, cur);
  if (c.size() == 0) {
    std::printf("no changes (revision %lld)\n", static_cast<long long>(cur.revision));
    return kOk;
  }
  if (desired.empty()) {
    // Likely a node's own file (config_source.etcd, no shared sections): pushing it would
    // delete every object the nodes run on.
    std::fprintf(stderr,
                 "config error: %s has no shared objects (environments, apps, channels, "
                 "policies, apis, bindings): refusing to delete the %zu objects under %s\n",
                 o.file.c_str(), c.deleted.size(), o.prefix.c_str());
    return kRefused;
  }
  etcd::TxnOps ops = push_ops(o, c, cur.revision, desired.size());
  size_t n_ops = ops.puts.size() + ops.deletes.size();
  std::string body;
  std::string error;
  if (!etcd_post(o, "/v3/kv/txn", etcd::txn_body(ops), &body, &error)) {
    if (error.find("too many operations in txn") != std::string::npos) {
      error += ": this push is one transaction of " + std::to_string(n_ops) +
               " operations, above etcd's --max-txn-ops (default 128); raise it on every etcd "
               "member, or push in smaller steps";
    }
    std::fprintf(stderr, "error: %s: nothing written\n", error.c_str());
    return kTrouble;
  }
  etcd::TxnResult r = etcd::parse_txn(body);
  if (!r.error.empty()) {
    std::fprintf(stderr, "error: %s: the push's outcome is unknown\n", r.error.c_str());
    return kTrouble;
  }
  if (!r.succeeded) {
    std::fprintf(stderr,
                 "etcd changed under the push (another writer after revision %lld): nothing "
                 "written, run it again\n",
                 static_cast<long long>(cur.revision));
    return kRefused;
  }
  std::printf("pushed revision %lld: %zu added, %zu changed, %zu deleted\n",
              static_cast<long long>(r.revision), c.added.size(), c.changed.size(),
              c.deleted.size());
  return kOk;
}

int diff(const std::vector<config::SharedObject>& desired, const Current& cur) {
  Changes c = compare(desired, cur);
  if (c.size() == 0) {
    std::printf("no changes (revision %lld)\n", static_cast<long long>(cur.revision));
    return kOk;
  }
  for (const config::SharedObject* obj : c.added) {
    std::printf("+ %s\n", obj->key.c_str());
  }
  for (const config::SharedObject* obj : c.changed) {
    std::printf("~ %s\n", obj->key.c_str());
  }
  for (const std::string& key : c.deleted) {
    std::printf("- %s\n", key.c_str());
  }
  return kRefused;
}

}  // namespace

int run_config(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, &o)) {
    return kTrouble;
  }
  bool is_push = o.command == "push";
  std::vector<config::SharedObject> desired;
  if (!load_desired(o, &desired)) {
    return is_push ? kRefused : kTrouble;  // diff: 1 means "they differ"
  }
  Current cur;
  std::string error;
  if (!read_current(o, &cur, &error)) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return kTrouble;
  }
  return is_push ? push(o, desired, cur) : diff(desired, cur);
}

}  // namespace ringway
