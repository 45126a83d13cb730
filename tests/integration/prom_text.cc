#include "prom_text.h"

#include "harness.h"

#include <cmath>
#include <cstdlib>
#include <limits>

namespace ringway::integration {
namespace {

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// Reads a metric or label name at `*pos`; empty when there is none.
std::string ReadName(std::string_view line, size_t* pos, bool label) {
  size_t start = *pos;
  if (start >= line.size() || !IsNameStart(line[start]) || (label && line[start] == ':')) {
    return "";
  }
  size_t i = start + 1;
  while (i < line.size() && IsNameChar(line[i]) && !(label && line[i] == ':')) {
    ++i;
  }
  *pos = i;
  return std::string(line.substr(start, i - start));
}

void SkipBlanks(std::string_view line, size_t* pos) {
  while (*pos < line.size() && (line[*pos] == ' ' || line[*pos] == '\t')) {
    ++*pos;
  }
}

// Reads `{name="value",...}` (a trailing comma allowed, as the format does).
bool ReadLabels(std::string_view line, size_t* pos, Labels* labels, std::string* why) {
  ++*pos;  // '{'
  for (;;) {
    SkipBlanks(line, pos);
    if (*pos < line.size() && line[*pos] == '}') {
      ++*pos;
      return true;
    }
    std::string name = ReadName(line, pos, true);
    if (name.empty()) {
      *why = "bad label name";
      return false;
    }
    SkipBlanks(line, pos);
    if (*pos + 1 >= line.size() || line[*pos] != '=' || line[*pos + 1] != '"') {
      *why = "expected =\" after label " + name;
      return false;
    }
    *pos += 2;
    std::string value;
    bool closed = false;
    while (*pos < line.size()) {
      char c = line[(*pos)++];
      if (c == '"') {
        closed = true;
        break;
      }
      if (c == '\\') {
        if (*pos >= line.size()) {
          break;
        }
        char e = line[(*pos)++];
        if (e == 'n') {
          value += '\n';
        } else if (e == '\\' || e == '"') {
          value += e;
        } else {
          *why = "bad escape in label " + name;
          return false;
        }
      } else {
        value += c;
      }
    }
    if (!closed) {
      *why = "unterminated value of label " + name;
      return false;
    }
    if (!labels->emplace(name, std::move(value)).second) {
      *why = "duplicate label " + name;
      return false;
    }
    SkipBlanks(line, pos);
    if (*pos < line.size() && line[*pos] == ',') {
      ++*pos;
    } else if (*pos >= line.size() || line[*pos] != '}') {
      *why = "expected , or } after label " + name;
      return false;
    }
  }
}

}  // namespace

std::optional<double> ParsePromValue(std::string_view s) {
  if (s == "+Inf" || s == "Inf") {
    return std::numeric_limits<double>::infinity();
  }
  if (s == "-Inf") {
    return -std::numeric_limits<double>::infinity();
  }
  if (s == "NaN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (s.empty() || s.find_first_not_of("0123456789+-.eE") != std::string_view::npos) {
    return std::nullopt;
  }
  std::string copy(s);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) {
    return std::nullopt;
  }
  return v;
}

std::optional<PromText> ParsePromText(std::string_view text, std::string* error) {
  PromText out;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    auto fail = [&](const std::string& why) {
      *error = "line " + std::to_string(line_no) + ": " + why + ": " + std::string(line);
      return std::nullopt;
    };
    if (line.empty()) {
      continue;
    }
    if (line[0] == '#') {
      // "# HELP name text" / "# TYPE name type"; other comments are ignored.
      for (std::string_view kw : {std::string_view("# HELP "), std::string_view("# TYPE ")}) {
        if (line.substr(0, kw.size()) != kw) {
          continue;
        }
        std::string_view rest = line.substr(kw.size());
        size_t sp = rest.find(' ');
        std::string name(rest.substr(0, sp));
        std::string_view what = sp == std::string_view::npos ? "" : rest.substr(sp + 1);
        if (name.empty()) {
          return fail("comment without a metric name");
        }
        if (kw == "# TYPE ") {
          if (what != "counter" && what != "gauge" && what != "histogram" && what != "summary" &&
              what != "untyped") {
            return fail("unknown type");
          }
          if (!out.types.emplace(name, std::string(what)).second) {
            return fail("second TYPE for " + name);
          }
        } else {
          out.help[name] = std::string(what);
        }
      }
      continue;
    }
    PromSample s;
    size_t pos = 0;
    s.name = ReadName(line, &pos, false);
    if (s.name.empty()) {
      return fail("bad metric name");
    }
    std::string why;
    if (pos < line.size() && line[pos] == '{' && !ReadLabels(line, &pos, &s.labels, &why)) {
      return fail(why);
    }
    if (pos >= line.size() || (line[pos] != ' ' && line[pos] != '\t')) {
      return fail("expected a blank before the value");
    }
    SkipBlanks(line, &pos);
    std::string_view rest = line.substr(pos);
    size_t sp = rest.find_first_of(" \t");
    std::optional<double> v = ParsePromValue(rest.substr(0, sp));
    if (!v) {
      return fail("bad value");
    }
    if (sp != std::string_view::npos) {  // an optional timestamp (ms)
      std::string_view ts = rest.substr(sp + 1);
      if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string_view::npos) {
        return fail("bad timestamp");
      }
    }
    s.value = *v;
    out.samples.push_back(std::move(s));
  }
  return out;
}

std::optional<double> PromText::Value(std::string_view name, const Labels& labels) const {
  for (const PromSample& s : samples) {
    if (s.name == name && s.labels == labels) {
      return s.value;
    }
  }
  return std::nullopt;
}

std::vector<const PromSample*> PromText::Select(std::string_view name, const Labels& subset) const {
  std::vector<const PromSample*> out;
  for (const PromSample& s : samples) {
    if (s.name != name) {
      continue;
    }
    bool all = true;
    for (const auto& [k, v] : subset) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        all = false;
        break;
      }
    }
    if (all) {
      out.push_back(&s);
    }
  }
  return out;
}

double PromText::Sum(std::string_view name, const Labels& subset) const {
  double sum = 0;
  for (const PromSample* s : Select(name, subset)) {
    sum += s->value;
  }
  return sum;
}

::testing::AssertionResult ScrapeMetrics(const Gateway& gw, PromText* out) {
  const int port = gw.port("admin");
  if (port <= 0) {
    return ::testing::AssertionFailure() << "no admin listener logged:\n" << gw.LogTail();
  }
  auto r = HttpGet(port, "/metrics");
  if (!r || r->status != 200) {
    return ::testing::AssertionFailure()
           << "GET /metrics: " << (r ? std::to_string(r->status) + " " + r->body : "no response");
  }
  if (r->Header("content-type") != "text/plain; version=0.0.4; charset=utf-8") {
    return ::testing::AssertionFailure() << "content-type " << r->Header("content-type");
  }
  std::string error;
  std::optional<PromText> parsed = ParsePromText(r->body, &error);
  if (!parsed) {
    return ::testing::AssertionFailure() << error << "\n" << r->body;
  }
  *out = std::move(*parsed);
  return ::testing::AssertionSuccess();
}

}  // namespace ringway::integration
