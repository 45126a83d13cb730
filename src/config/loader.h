// Private interface of the configuration loader: the entry point with options (used by
// the unit tests to load documents with features the release does not build yet), the
// "not supported yet" gate, and the section readers shared between the loader's files.
#pragma once

#include <string_view>
#include <vector>

#include "config/json_walk.h"
#include "ringway/config.h"

namespace ringway::config::internal {

// Features the loader parses and validates fully but the current release does not
// build. reject_unbuilt_features reports each one that a document uses as
// "<path>: not supported yet"; set a flag when the issue that builds the feature lands.
struct BuiltFeatures {
  bool channels = false;        // channels (and their health checks)
  bool listener_tls = false;    // listeners[i].tls
  bool policies = false;        // policies and bindings
  bool cascade = false;         // instance.cascade.enabled, backend.cascade
  bool app_auth = false;        // apis[i].auth_type "app"
  bool https_backends = false;  // backend.req_protocol "https", backend.client_ssl
  bool admin = false;           // the admin listener
  bool etcd_tls = false;        // config_source.etcd.tls

  static constexpr BuiltFeatures all() { return {true, true, true, true, true, true, true, true}; }
};

// What this release builds.
inline constexpr BuiltFeatures kBuiltFeatures{.channels = true,
                                              .listener_tls = true,
                                              .policies = true,
                                              .cascade = true,
                                              .app_auth = true,
                                              .https_backends = true,
                                              .admin = true,
                                              .etcd_tls = true};

// Appends a "not supported yet" error for every use of a feature `built` lacks. Paths are
// derived from `cfg`, whose list indices are the document's.
void reject_unbuilt_features(const Config& cfg, const BuiltFeatures& built,
                             std::vector<Error>* errors);

struct LoadOptions {
  std::string_view base_dir = ".";
  BuiltFeatures built = kBuiltFeatures;
  bool check_files = true;  // load TLS files (check_tls_files); unit tests of parsing skip it
  bool assembled = false;   // shared sections and config_source.etcd together (etcd mode)
};

// load_config with options. Never throws.
LoadResult load_config_with(std::string_view json, const LoadOptions& options);

// The named things of a document, for cross references.
struct Registry {
  Names environments{"environment"};
  Names channels{"channel"};
  Names policies{"policy"};
  Names apis{"api"};
};

// Section readers (channels.cc, apis.cc). They read `top`'s field into `cfg` and check
// references against `reg`, whose referenced sections are already read.
void read_channels(const Obj& top, Registry& reg, Config& cfg);
void read_apis(const Obj& top, Registry& reg, Config& cfg);

// Reads the policies (policies.cc): circuit-breaker content in the seed's script format.
// Channels must be read already (an http downgrade may name one).
void read_policies(const Obj& top, Registry& reg, Config& cfg);

// Reads config_source (source.cc). reject_local_shared reports the shared sections a file
// with config_source.etcd must not hold (the assembled document of a node may).
void read_config_source(const Obj& top, Config& cfg);
void reject_local_shared(const Obj& top, const Config& cfg);

// The error of a configured header line ("must be a valid header name", "is set by the
// gateway", ...), "" when it is fine.
std::string check_header_field(std::string_view name, std::string_view value);

// Reads a `client_ssl` object {certificate, private_key, ca}; paths resolve against the
// base directory.
std::optional<TlsFiles> read_tls_files(const Obj& parent, std::string_view key);

// Loads every TLS file of `cfg` once (listeners, backends' and health checks' client_ssl):
// each must exist and parse, and each key must match its certificate. Errors name the
// file's member ("listeners[0].tls.sni[1].private_key").
void check_tls_files(const Config& cfg, std::vector<Error>* errors);

// Checks between APIs and the sections they use (validate_apis.cc): duplicate routes,
// backend templates against parameters and environment variables, retry_count against
// the channel's enabled members.
void check_apis(Context& ctx, const Config& cfg);

}  // namespace ringway::config::internal
