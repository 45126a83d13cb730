// The shared objects of a configuration (environments, apps, channels, policies, apis,
// bindings) as etcd holds them: one key per object under a prefix (`<prefix>apis/<name>`),
// the value the object's JSON as in CONFIG.md. A node's document is its own file (listeners,
// shards, admin, limits, instance, config_source) with these sections assembled in.
//
// Keys under the prefix whose first character is "_" are reserved for ringway's tools
// (`config push` writes `_push`) and are not objects.
//
// Thread affinity: none (pure functions); used by the control thread and the CLI.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringway/config.h"

namespace ringway::config {

// In the order a document lists them (and an assembled one is written).
inline constexpr std::array<std::string_view, 6> kSharedSections{
    "environments", "apps", "channels", "policies", "apis", "bindings"};

// The key `config push` writes beside the objects, so two pushes always conflict.
inline constexpr std::string_view kPushStampKey = "_push";

// One shared object: its key relative to the prefix and its minified JSON.
struct SharedObject {
  std::string key;  // "apis/get_order"; bindings: "bindings/<policy>.<api>.<environment>"
  std::string value;
};

// The shared objects of document `json`, in document order. Reports at document paths
// ("apis[2].name") objects whose key cannot be made; does not validate otherwise.
std::vector<SharedObject> split_shared(std::string_view json, std::vector<Error>* errors);

struct Assembled {
  std::string json;
  // ("apis[3]", "apis/get_order"): which key each shared list entry came from.
  std::vector<std::pair<std::string, std::string>> index_keys;
};

// `local_json` (a node's file, a JSON object without shared sections) with every shared
// section made of `objects` (relative key -> value), in key order. An object with a key
// outside the sections, a value that is not a JSON object, or a name unlike its key's is
// reported at "<prefix><key>" and left out. Keys starting with "_" are skipped.
Assembled assemble(std::string_view local_json, std::string_view prefix,
                   const std::map<std::string, std::string>& objects, std::vector<Error>* errors);

// Rewrites the paths of `errors` that start with a shared list entry ("apis[3].backend")
// to the key it came from ("/ringway/prod/apis/get_order.backend").
void map_error_paths(const Assembled& a, std::string_view prefix, std::vector<Error>* errors);

// load_config of an assembled document: shared sections beside config_source.etcd.
LoadResult load_assembled(std::string_view json, std::string_view base_dir);

}  // namespace ringway::config
