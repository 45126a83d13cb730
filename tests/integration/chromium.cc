// Headless Chromium driver and DOM-reading helpers of the integration harness.
#include "chromium.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace ringway::integration {
namespace {

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

// Whether the space-separated class list `list` holds `cls`.
bool ListHas(std::string_view list, std::string_view cls) {
  for (size_t i = 0; i <= list.size();) {
    size_t sp = std::min(list.find(' ', i), list.size());
    if (list.substr(i, sp - i) == cls) {
      return true;
    }
    i = sp + 1;
  }
  return false;
}

// The class list of the start tag at the beginning of `html` ("" without one).
std::string_view ClassList(std::string_view html) {
  std::string_view tag = html.substr(0, html.find('>'));
  size_t at = tag.find(" class=\"");
  if (at == std::string_view::npos) {
    return "";
  }
  at += 8;
  return tag.substr(at, tag.find('"', at) - at);
}

// Where the first element with class `cls` starts ('<'), or npos.
size_t FindByClass(std::string_view html, std::string_view cls) {
  for (size_t at = html.find('<'); at != std::string_view::npos; at = html.find('<', at + 1)) {
    if (ListHas(ClassList(html.substr(at)), cls)) {
      return at;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::string ChromiumPath() {
  const char* env = std::getenv("CHROMIUM_BIN");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/chromium";
}

DomDump DumpDom(const std::string& url, int virtual_time_ms, int timeout_ms) {
  DomDump out;
  TempDir profile;
  std::vector<std::string> argv = {ChromiumPath(),
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-dev-shm-usage",
                                   "--no-first-run",
                                   "--user-data-dir=" + profile.path(),
                                   "--virtual-time-budget=" + std::to_string(virtual_time_ms),
                                   "--dump-dom",
                                   url};
  CommandResult r = RunCommand(argv, timeout_ms);
  if (!r.started) {
    out.error = ChromiumPath() + " could not be started: " + r.err +
                " (tools/setup --test installs chromium; CHROMIUM_BIN overrides the path)";
  } else if (r.exit_code != 0) {
    out.error = ChromiumPath() + (r.exit_code == -1 ? " timed out" : " exited with status ") +
                (r.exit_code == -1 ? "" : std::to_string(r.exit_code)) + "; stderr:\n" +
                Tail(r.err, 2000);
  } else if (r.out.find("<html") == std::string::npos) {
    out.error = "no DOM in chromium's output; stderr:\n" + Tail(r.err, 2000);
  } else {
    out.ok = true;
    out.dom = std::move(r.out);
  }
  return out;
}

::testing::AssertionResult WaitDom(const std::string& url,
                                   const std::function<bool(const std::string&)>& done,
                                   int timeout_ms, std::string* dom, int virtual_time_ms) {
  DomDump last;
  bool held = PollUntil(
      [&] {
        last = DumpDom(url, virtual_time_ms);
        return !last.ok || done(last.dom);
      },
      timeout_ms);
  *dom = last.dom;
  if (!last.ok) {
    return ::testing::AssertionFailure() << "loading " << url << ": " << last.error;
  }
  if (!held) {
    return ::testing::AssertionFailure()
           << "the DOM of " << url << " did not reach the condition in " << timeout_ms
           << " ms; last DOM:\n"
           << Tail(last.dom, 6000);
  }
  return ::testing::AssertionSuccess();
}

std::string Attr(std::string_view name, std::string_view value) {
  std::string out = std::string(name) + "=\"";
  for (char c : value) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

std::string Row(std::string_view dom, std::string_view start_tag_part) {
  for (size_t at = dom.find("<tr"); at != std::string_view::npos; at = dom.find("<tr", at + 1)) {
    size_t tag_end = dom.find('>', at);
    size_t end = dom.find("</tr>", at);
    if (tag_end == std::string_view::npos || end == std::string_view::npos) {
      break;
    }
    if (dom.substr(at, tag_end - at).find(start_tag_part) != std::string_view::npos) {
      return std::string(dom.substr(at, end + 5 - at));
    }
  }
  return "";
}

bool HasClass(std::string_view html, std::string_view cls) { return ListHas(ClassList(html), cls); }

std::optional<std::string> CellText(std::string_view html, std::string_view cls) {
  size_t at = FindByClass(html, cls);
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  size_t open_end = html.find('>', at);
  size_t close = html.find("</", open_end);
  if (open_end == std::string_view::npos || close == std::string_view::npos) {
    return std::nullopt;
  }
  return HtmlUnescape(html.substr(open_end + 1, close - open_end - 1));
}

std::optional<std::string> CellAttr(std::string_view html, std::string_view cls,
                                    std::string_view name) {
  size_t at = FindByClass(html, cls);
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view tag = html.substr(at, html.find('>', at) - at);
  std::string needle = " " + std::string(name) + "=\"";
  size_t v = tag.find(needle);
  if (v == std::string_view::npos) {
    return std::nullopt;
  }
  v += needle.size();
  return HtmlUnescape(tag.substr(v, tag.find('"', v) - v));
}

std::string HtmlUnescape(std::string_view s) {
  static constexpr std::pair<std::string_view, std::string_view> kEntities[] = {
      {"&lt;", "<"},  {"&gt;", ">"},   {"&quot;", "\""},
      {"&#39;", "'"}, {"&nbsp;", " "}, {"&amp;", "&"}};
  std::string out;
  for (size_t i = 0; i < s.size();) {
    bool replaced = false;
    for (const auto& [entity, text] : kEntities) {
      if (s.substr(i, entity.size()) == entity) {
        out += text;
        i += entity.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) {
      out += s[i++];
    }
  }
  return out;
}

}  // namespace ringway::integration
