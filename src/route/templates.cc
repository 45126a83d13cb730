// Backend path templates: compiled per environment on the control thread (build),
// rendered on shards (render_template: no allocation, no throw).
//
// Rendering rules:
// - Literals and `#var#` values (substituted at compile) are written as configured;
//   `{param}` values as received on the wire (still percent-encoded, never decoded).
// - Prefix APIs append MatchResult::rest with exactly one '/' at the junction when the
//   rest is non-empty: "/back" + "/x", "/back/" + "/x" and "/back" + "x" (after a
//   pattern ending in '/') all give "/back/x". An empty result is sent as "/".
// - An empty backend req_uri sends the request path as received (no rest appended).
#include <string>

#include "route/table_impl.h"

namespace ringway::route {
namespace {

class TemplateCompiler {
 public:
  TemplateCompiler(const config::Api& api, size_t index,
                   const std::vector<std::string>& param_names, const config::Environment& env,
                   PathTemplate* out, std::vector<config::Error>* errors)
      : index_(index), params_(param_names), env_(env), out_(out), errors_(errors) {
    out_->append_rest = api.match_mode == config::MatchMode::kPrefix;
  }

  bool run(std::string_view uri) {
    size_t i = 0;
    while (i < uri.size()) {
      const char c = uri[i];
      if (c != '{' && c != '#') {
        literal_ += c;
        ++i;
        continue;
      }
      const size_t close = uri.find(c == '{' ? '}' : '#', i + 1);
      if (close == std::string_view::npos) {
        return fail(std::string("unterminated \"") + c + "\" in \"" + std::string(uri) + "\"");
      }
      const std::string_view name = uri.substr(i + 1, close - i - 1);
      if (!(c == '{' ? add_param(name) : add_variable(name))) {
        return false;
      }
      i = close + 1;
    }
    flush();
    return true;
  }

 private:
  bool add_param(std::string_view name) {
    if (!name.empty() && name.back() == '+') {
      name.remove_suffix(1);  // `{name+}` may be written as in the request pattern
    }
    for (size_t p = 0; p < params_.size(); ++p) {
      if (params_[p] == name) {
        flush();
        PathTemplate::Piece piece;
        piece.kind = PathTemplate::Kind::kParam;
        piece.param = static_cast<uint16_t>(p);
        out_->pieces.push_back(std::move(piece));
        return true;
      }
    }
    return fail("unknown path parameter \"{" + std::string(name) + "}\"");
  }

  bool add_variable(std::string_view name) {
    auto it = env_.variables.find(std::string(name));
    if (it == env_.variables.end()) {
      return fail("variable \"#" + std::string(name) + "#\" is not defined in environment \"" +
                  env_.name + "\"");
    }
    literal_ += it->second;
    return true;
  }

  void flush() {
    if (!literal_.empty()) {
      PathTemplate::Piece piece;
      piece.literal = std::move(literal_);
      out_->pieces.push_back(std::move(piece));
      literal_.clear();
    }
  }

  bool fail(std::string message) {
    errors_->push_back({api_path(index_, "backend.req_uri"), std::move(message)});
    return false;
  }

  const size_t index_;
  const std::vector<std::string>& params_;
  const config::Environment& env_;
  PathTemplate* out_;
  std::vector<config::Error>* errors_;
  std::string literal_;
};

void put_rest(std::string_view rest, bool slash_before, Writer& out) noexcept {
  if (rest.empty()) {
    return;
  }
  if (slash_before && rest.front() == '/') {
    rest.remove_prefix(1);
  } else if (!slash_before && rest.front() != '/') {
    out.put('/');
  }
  out.put(rest);
}

}  // namespace

bool compile_template(const config::Api& api, size_t index,
                      const std::vector<std::string>& param_names, const config::Environment& env,
                      PathTemplate* out, std::vector<config::Error>* errors) {
  *out = PathTemplate{};
  const std::string& uri = api.backend.http.req_uri;
  if (uri.empty()) {
    out->use_request_path = true;
    return true;
  }
  return TemplateCompiler(api, index, param_names, env, out, errors).run(uri);
}

bool render_template(const PathTemplate& t, const MatchResult& m, std::string_view query,
                     Writer& out) noexcept {
  if (t.use_request_path) {
    out.put(m.path);
  } else {
    const size_t before = out.size();
    char last = '\0';
    for (const PathTemplate::Piece& piece : t.pieces) {
      std::string_view v = piece.literal;
      if (piece.kind == PathTemplate::Kind::kParam) {
        v = piece.param < m.param_count ? m.params[piece.param] : std::string_view();
      }
      out.put(v);
      last = v.empty() ? last : v.back();
    }
    if (t.append_rest) {
      put_rest(m.rest, last == '/', out);
    }
    if (out.size() == before) {
      out.put('/');
    }
  }
  if (!query.empty()) {
    out.put('?');
    out.put(query);
  }
  return out.ok();
}

}  // namespace ringway::route
