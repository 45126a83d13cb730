#include <simdjson.h>

#include <algorithm>
#include <exception>

#include "config/loader.h"
#include "config/values.h"
#include "ringway/config_source.h"

namespace ringway::config {
namespace {

namespace dom = simdjson::dom;

std::string string_field(dom::element e, std::string_view key) {
  std::string_view s;
  return e.at_key(key).get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
}

// The name part of an object's key, "" when the object lacks what it needs.
std::string key_name(std::string_view section, dom::element e) {
  if (section != "bindings") {
    return string_field(e, "name");
  }
  std::string policy = string_field(e, "policy");
  std::string api = string_field(e, "api");
  std::string env = string_field(e, "environment");
  if (policy.empty() || api.empty() || env.empty()) {
    return "";
  }
  return policy + "." + api + "." + env;
}

// Checks one etcd object: "" or the problem. Sets *section to its section.
std::string check_object(dom::parser& parser, const std::string& key, const std::string& value,
                         std::string_view* section) {
  size_t slash = key.find('/');
  std::string_view sec = std::string_view(key).substr(0, slash);
  auto it = std::find(kSharedSections.begin(), kSharedSections.end(), sec);
  if (slash == std::string::npos || it == kSharedSections.end()) {
    return "is not <section>/<name> with a section of environments, apps, channels, policies, "
           "apis, bindings";
  }
  *section = *it;
  std::string name = key.substr(slash + 1);
  if (name.empty() || name.find('/') != std::string::npos) {
    return "must be " + std::string(sec) + "/<name>";
  }
  dom::element e;
  if (parser.parse(value).get(e) != simdjson::SUCCESS || !e.is_object()) {
    return "value must be a JSON object";
  }
  std::string from_value = key_name(sec, e);
  if (sec != "bindings" && from_value != name) {
    return "name must equal the key's name " + internal::quote(name) + " (got " +
           internal::quote(from_value) + ")";
  }
  return "";
}

// The text of `local` with `sections` inserted before its closing brace.
std::string insert_sections(std::string_view local, const std::string& sections) {
  while (!local.empty() && (local.back() == ' ' || local.back() == '\n' || local.back() == '\r' ||
                            local.back() == '\t')) {
    local.remove_suffix(1);
  }
  std::string out(local.substr(0, local.size() - 1));
  size_t last = out.find_last_not_of(" \t\r\n");
  bool empty_object = last != std::string::npos && out[last] == '{';
  out += empty_object ? sections.substr(1) : sections;
  out += "}";
  return out;
}

}  // namespace

std::vector<SharedObject> split_shared(std::string_view json, std::vector<Error>* errors) {
  std::vector<SharedObject> out;
  dom::parser parser;
  dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS || !root.is_object()) {
    errors->push_back({"", "must be a JSON object"});
    return out;
  }
  for (std::string_view section : kSharedSections) {
    dom::array list;
    if (root.at_key(section).get_array().get(list) != simdjson::SUCCESS) {
      continue;  // absent, or not a list: the loader reports it
    }
    size_t i = 0;
    for (dom::element e : list) {
      std::string name = e.is_object() ? key_name(section, e) : "";
      std::string path = internal::index_path(section, i++);
      if (name.empty()) {
        errors->push_back({path, section == "bindings"
                                     ? "needs policy, api and environment to make its etcd key"
                                     : "needs a name to make its etcd key"});
        continue;
      }
      out.push_back({std::string(section) + "/" + name, simdjson::minify(e)});
    }
  }
  return out;
}

Assembled assemble(std::string_view local_json, std::string_view prefix,
                   const std::map<std::string, std::string>& objects, std::vector<Error>* errors) {
  Assembled a;
  dom::parser parser;
  std::map<std::string_view, std::vector<const std::pair<const std::string, std::string>*>> by;
  for (const auto& kv : objects) {
    if (kv.first.empty() || kv.first[0] == '_') {
      continue;
    }
    std::string_view section;
    std::string problem = check_object(parser, kv.first, kv.second, &section);
    if (!problem.empty()) {
      errors->push_back({std::string(prefix) + kv.first, problem});
      continue;
    }
    by[section].push_back(&kv);
  }
  std::string sections;
  for (std::string_view section : kSharedSections) {
    auto it = by.find(section);
    if (it == by.end()) {
      continue;
    }
    sections += ",\"" + std::string(section) + "\":[";
    for (size_t i = 0; i < it->second.size(); ++i) {
      sections += i == 0 ? "" : ",";
      sections += it->second[i]->second;
      a.index_keys.emplace_back(internal::index_path(section, i), it->second[i]->first);
    }
    sections += "]";
  }
  a.json = insert_sections(local_json, sections);
  return a;
}

namespace {

// Whether `text` at `pos` holds the list entry `index` ("apis[3]", not "apis[31]").
bool entry_at(std::string_view text, size_t pos, std::string_view index) {
  return text.compare(pos, index.size(), index) == 0 &&
         (pos == 0 || (text[pos - 1] != '.' && text[pos - 1] != '_'));
}

// `text` with each list entry of `a` it names replaced by "<prefix><key>".
std::string rename_entries(std::string_view text, const Assembled& a, std::string_view prefix) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    bool replaced = false;
    for (const auto& [index, key] : a.index_keys) {
      if (entry_at(text, i, index)) {
        out.append(prefix).append(key);
        i += index.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) {
      out += text[i++];
    }
  }
  return out;
}

}  // namespace

void map_error_paths(const Assembled& a, std::string_view prefix, std::vector<Error>* errors) {
  for (Error& e : *errors) {
    e.path = rename_entries(e.path, a, prefix);
    e.message = rename_entries(e.message, a, prefix);
  }
}

LoadResult load_assembled(std::string_view json, std::string_view base_dir) {
  internal::LoadOptions options;
  options.base_dir = base_dir;
  options.assembled = true;
  return internal::load_config_with(json, options);
}

}  // namespace ringway::config
