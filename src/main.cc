// The ringway command: serve, check, sign, config push|diff, --version.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

#include "config_cli.h"
#include "ringway/config.h"
#include "ringway/log.h"
#include "ringway/server.h"
#include "sign_cli.h"

namespace {

constexpr const char* kUsage =
    "usage: ringway serve -c FILE [--shards N] [--log-level debug|info|warn|error]\n"
    "                     [--drain-timeout-ms N]\n"
    "       ringway check -c FILE\n"
    "       ringway sign --app-key KEY --app-secret SECRET [-X M] [-H H]... [-d BODY] URL\n"
    "       ringway config push|diff -c FILE --etcd HOST:PORT --prefix /P/ [--timeout-ms N]\n"
    "       ringway --version\n";

struct Args {
  std::string command;
  std::string config;
  uint32_t shards = 0;
  uint32_t drain_timeout_ms = 30000;
  std::string log_level = "info";
};

bool parse_uint(const char* s, uint32_t* out) {
  char* end = nullptr;
  unsigned long v = std::strtoul(s, &end, 10);
  if (end == s || *end != '\0' || v > 1000000000ul) {
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

bool parse_args(int argc, char** argv, Args* a) {
  if (argc < 2) {
    return false;
  }
  a->command = argv[1];
  for (int i = 2; i < argc; i += 2) {  // flag, value
    std::string_view k = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (v == nullptr) {
      return false;
    }
    if (k == "-c" || k == "--config") {
      a->config = v;
    } else if (k == "--shards") {
      if (!parse_uint(v, &a->shards)) return false;
    } else if (k == "--drain-timeout-ms") {
      if (!parse_uint(v, &a->drain_timeout_ms)) return false;
    } else if (k == "--log-level") {
      a->log_level = v;
    } else {
      return false;
    }
  }
  return !a->config.empty();
}

// Prints every error with its JSON path; returns the loaded config or exits 1.
ringway::config::LoadResult load_or_report(const std::string& path) {
  ringway::config::LoadResult r = ringway::config::load_config_file(path);
  for (const auto& e : r.errors) {
    std::fprintf(stderr, "error: %s\n", e.str().c_str());
  }
  return r;
}

void print_summary(const ringway::config::Config& cfg) {
  std::printf("configuration OK: instance %s\n", cfg.instance.id.c_str());
  for (const auto& l : cfg.listeners) {
    std::printf("listener %s %s%s\n", l.name.c_str(), l.address.text.c_str(), l.tls ? " tls" : "");
  }
  if (cfg.admin) {
    std::printf("admin %s\n", cfg.admin->text.c_str());
  }
  if (cfg.access_log) {
    std::printf("access log %s\n", cfg.access_log->path.c_str());
  }
  if (cfg.etcd) {  // the shared objects are not in the file: check counts none of them
    std::string endpoints;
    for (const auto& e : cfg.etcd->endpoints) {
      endpoints += (endpoints.empty() ? "" : ",") + e.text;
    }
    std::printf("config source etcd %s prefix %s%s\n", endpoints.c_str(), cfg.etcd->prefix.c_str(),
                cfg.etcd->tls ? " tls" : "");
  }
  for (const auto& env : cfg.environments) {
    int n = 0;
    for (const auto& api : cfg.apis) {
      for (const auto& e : api.environments) {
        n += e == env.name ? 1 : 0;
      }
    }
    std::printf("environment %s: %d apis\n", env.name.c_str(), n);
  }
  std::printf("channels: %zu\n", cfg.channels.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 &&
      (std::strcmp(argv[1], "--version") == 0 || std::strcmp(argv[1], "version") == 0)) {
    std::printf("ringway %s\n", RINGWAY_VERSION);
    return 0;
  }
  if (argc >= 2 && std::strcmp(argv[1], "sign") == 0) {
    return ringway::run_sign(argc, argv);
  }
  if (argc >= 2 && std::strcmp(argv[1], "config") == 0) {
    return ringway::run_config(argc, argv);
  }
  Args args;
  if (!parse_args(argc, argv, &args) || (args.command != "serve" && args.command != "check")) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  auto level = ringway::log::parse_level(args.log_level);
  if (!level) {
    std::fprintf(stderr, "error: --log-level: unknown level \"%s\"\n", args.log_level.c_str());
    return 2;
  }
  ringway::log::set_level(*level);
  ringway::config::LoadResult r = load_or_report(args.config);
  if (!r.ok()) {
    std::fprintf(stderr, "%zu configuration error(s) in %s\n", r.errors.size(),
                 args.config.c_str());
    return 1;
  }
  if (args.command == "check") {
    print_summary(*r.config);
    return 0;
  }
  ringway::ServeOptions opt;
  opt.config_path = args.config;
  opt.shards = args.shards;
  opt.drain_timeout_ms = args.drain_timeout_ms;
  return ringway::serve(opt, std::move(*r.config));
}
