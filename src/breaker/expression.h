// The expression form that `unhealthy_condition` (condition.h) and `match_regex` (rules.h)
// share: a JSON array, or a string holding one; ["AND", e1, e2, ...] / ["OR", ...] (either
// case) group tests, nested at most Derived::kMaxDepth deep; any other array is a test, which
// the derived builder compiles. Errors read "element [1][0]: ..." (paths relative to the
// expression).
//
// Thread affinity: control thread (configuration loading and compiling); it allocates.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::breaker::expression {

bool iequals(std::string_view a, std::string_view b);

// The expression's root element, from `json` (an array, or a string holding one); it lives
// as long as the Document.
class Document {
 public:
  // False with `error` set when `json` is not JSON, or a string not holding JSON.
  bool parse(std::string_view json, std::string* error);
  simdjson::dom::element root() const { return root_; }

 private:
  simdjson::dom::parser outer_;
  simdjson::dom::parser inner_;  // the array a string holds, parsed again
  std::string held_;
  simdjson::dom::element root_;
};

// Builds the AND/OR skeleton into `nodes` (whose Node has `kind`, `first`, `count` and a Kind
// with kAnd and kOr) and `children`; each test goes to Derived::build_test(arr, head, path).
// Derived also names what the first element of a test is (kTestHead, for messages).
template <class Derived, class Node>
struct TreeBuilder {
  std::vector<Node>& nodes;
  std::vector<uint32_t>& children;
  std::string* error;

  bool fail(const std::string& path, const std::string& message) {
    *error = (path.empty() ? std::string() : "element " + path + ": ") + message;
    return false;
  }

  bool build(simdjson::dom::element el, const std::string& path, uint32_t depth) {
    simdjson::dom::array arr;
    if (el.get_array().get(arr) != simdjson::SUCCESS || arr.size() == 0) {
      return fail(path, "must be a non-empty array");
    }
    std::string_view head;
    if (arr.at(0).get_string().get(head) != simdjson::SUCCESS) {
      return fail(path + "[0]",
                  "must be a string (AND, OR or " + std::string(Derived::kTestHead) + ")");
    }
    if (iequals(head, "AND") || iequals(head, "OR")) {
      return build_group(arr, iequals(head, "AND") ? Node::Kind::kAnd : Node::Kind::kOr, path,
                         depth);
    }
    return static_cast<Derived*>(this)->build_test(arr, head, path);
  }

  bool build_group(simdjson::dom::array arr, typename Node::Kind kind, const std::string& path,
                   uint32_t depth) {
    if (depth >= Derived::kMaxDepth) {
      return fail(path, "nested deeper than " + std::to_string(Derived::kMaxDepth));
    }
    if (arr.size() < 2) {
      return fail(path, "needs at least one operand after AND/OR");
    }
    const auto self = static_cast<uint32_t>(nodes.size());
    nodes.push_back({kind});
    std::vector<uint32_t> kids;
    for (size_t i = 1; i < arr.size(); ++i) {
      kids.push_back(static_cast<uint32_t>(nodes.size()));
      if (!build(arr.at(i).value_unsafe(), path + "[" + std::to_string(i) + "]", depth + 1)) {
        return false;
      }
    }
    nodes[self].first = static_cast<uint32_t>(children.size());
    nodes[self].count = static_cast<uint32_t>(kids.size());
    children.insert(children.end(), kids.begin(), kids.end());
    return true;
  }
};

}  // namespace ringway::breaker::expression
