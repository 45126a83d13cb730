// Headless Chromium for the integration tests: loads a page, lets its scripts run (fetches
// and timers) and returns the serialized DOM; plus small helpers to read rows and cells of
// that DOM by their stable hooks (classes and data- attributes).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "harness.h"

namespace ringway::integration {

struct DomDump {
  bool ok = false;
  std::string dom;    // document.documentElement.outerHTML after the time budget
  std::string error;  // why not ok: not installed, exit status, timeout (with stderr's tail)
};

// $CHROMIUM_BIN, else /usr/bin/chromium (tools/setup --test installs Debian's chromium).
std::string ChromiumPath();

// Loads `url` in a fresh headless Chromium (own profile directory, no sandbox: tests run
// as root) and dumps the DOM once `virtual_time_ms` of virtual time has passed. Virtual
// time stands still while network fetches are pending, so a page polling every 2 s has run
// about virtual_time_ms / 2000 polls, with their answers rendered. Bounded by timeout_ms of
// real time.
DomDump DumpDom(const std::string& url, int virtual_time_ms = 5000, int timeout_ms = 60000);

// Dumps the DOM again until `done(dom)` holds; the last dump goes to *dom. Failure: the
// deadline passed (with the last DOM's tail) or Chromium failed.
::testing::AssertionResult WaitDom(const std::string& url,
                                   const std::function<bool(const std::string&)>& done,
                                   int timeout_ms, std::string* dom, int virtual_time_ms = 5000);

// ---- reading the dump (serialized HTML, not a parser: for markup the tests know) ----

// `name="value"` with value escaped as Chromium serializes attributes (&, ", <, >).
std::string Attr(std::string_view name, std::string_view value);
// The first `<tr ...>...</tr>` whose start tag contains `start_tag_part` (e.g.
// Attr("data-member", "127.0.0.1:9001")); empty if none.
std::string Row(std::string_view dom, std::string_view start_tag_part);
// Whether the element starting `html` (its start tag) has class `cls`.
bool HasClass(std::string_view html, std::string_view cls);
// The text of the first element in `html` with class `cls` (e.g. "reason" for
// <td class="reason">), entities decoded; nullopt if none.
std::optional<std::string> CellText(std::string_view html, std::string_view cls);
// The value of attribute `name` of that element, entities decoded.
std::optional<std::string> CellAttr(std::string_view html, std::string_view cls,
                                    std::string_view name);
// Decodes &lt; &gt; &amp; &quot; &#39; &nbsp;.
std::string HtmlUnescape(std::string_view s);

}  // namespace ringway::integration
