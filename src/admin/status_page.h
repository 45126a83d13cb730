// The admin listener's status page (docs/admin.md "Status page"): one static HTML file with
// inline CSS and JS, compiled into the binary from src/admin/status_page.html.
#pragma once

#include <string_view>

namespace ringway::admin {

// The page's bytes (text/html; charset=utf-8), valid for the life of the process.
std::string_view status_page();

}  // namespace ringway::admin
