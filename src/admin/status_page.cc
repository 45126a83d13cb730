#include "admin/status_page.h"

#include <cstddef>

// Defined by status_page.S (.incbin of status_page.html).
extern "C" {
extern const char ringway_status_page[];
extern const char ringway_status_page_end[];
}

namespace ringway::admin {

std::string_view status_page() {
  return {ringway_status_page, static_cast<size_t>(ringway_status_page_end - ringway_status_page)};
}

}  // namespace ringway::admin
