// libFuzzer target: the cascade channel's headers (ringway/cascade.h).
//
// Input: newline-separated fields as a cascaded instance receives them: instance, time, nonce,
// hop, signature, then the request's method, target and Host. Checks: verify() never reads past
// a field and its verdict has a status, code and message; on kOk the hop and time it reports
// are the fields' values. Then the signer's side: write_headers() for the same request, into a
// buffer of the input's choosing, either fits (and what it wrote verifies, parsed back as the
// receiving side would) or reports 0; and the replay cache refuses the verified nonce the
// second time.
#include <cctype>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "ringway/cascade.h"

namespace ringway::fuzz {
namespace {

constexpr std::string_view kKeys[] = {"current-key", "previous-key"};
constexpr int64_t kNow = 1700000000;

// The value of header `name` (lower case, without the prefix) in "Name: value\r\n" lines.
std::string_view header_value(std::string_view lines, std::string_view name) {
  for (std::string_view line : fields(lines, '\n', 16)) {
    const size_t colon = line.find(": ");
    if (colon == std::string_view::npos || colon < cascade::kHeaderPrefix.size()) {
      continue;
    }
    std::string lower(line.substr(0, colon));
    for (char& c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lower == std::string(cascade::kHeaderPrefix) + std::string(name)) {
      std::string_view v = line.substr(colon + 2);
      if (!v.empty() && v.back() == '\r') {
        v.remove_suffix(1);
      }
      return v;
    }
  }
  return {};
}

}  // namespace
}  // namespace ringway::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringway;
  const std::vector<std::string_view> f =
      fuzz::fields(std::string_view(reinterpret_cast<const char*>(data), size), '\n', 8);
  if (f.size() < 8) {
    return 0;
  }
  const std::vector<std::string> own(f.begin(), f.end());  // ASan sees reads past each field
  const cascade::Fields fields{own[0], own[1], own[2], own[3], own[4]};
  const std::string_view method = own[5], target = own[6], host = own[7];
  const std::string_view allowed[] = {own[0], "edge-1"};
  uint32_t hop = 0;
  int64_t time = 0;
  const cascade::Verdict v = cascade::verify(fields, fuzz::kKeys, 2, allowed, 2, fuzz::kNow, method,
                                             target, host, &hop, &time);
  FUZZ_CHECK(cascade::status(v) >= 200 && cascade::status(v) <= 599);
  FUZZ_CHECK((v == cascade::Verdict::kOk) == cascade::error_code(v).empty());
  FUZZ_CHECK(cascade::any_present(fields) || v == cascade::Verdict::kMalformed);
  if (v == cascade::Verdict::kOk) {
    FUZZ_CHECK(hop >= 1 && hop <= cascade::kMaxHops);
    FUZZ_CHECK(std::to_string(hop) == own[3] && std::to_string(time) == own[1]);
  }

  // The signing side, for the same request.
  uint8_t nonce[16] = {};
  for (size_t i = 0; i < size && i < sizeof(nonce); ++i) {
    nonce[i] = data[size - 1 - i];
  }
  const uint32_t send_hop = size % 5;  // 0 is refused
  const size_t cap = (size * 7) % 600;
  std::vector<char> out(cap);
  const size_t n = cascade::write_headers(fuzz::kKeys[1], own[0], fuzz::kNow, nonce, send_hop,
                                          method, target, host, out.data(), out.size());
  FUZZ_CHECK(n <= cap);
  if (n == 0) {
    return 0;
  }
  FUZZ_CHECK(send_hop >= 1 && !own[0].empty());
  const std::string_view lines(out.data(), n);
  const cascade::Fields back{fuzz::header_value(lines, "instance"),
                             fuzz::header_value(lines, "time"), fuzz::header_value(lines, "nonce"),
                             fuzz::header_value(lines, "hop"),
                             fuzz::header_value(lines, "signature")};
  const cascade::Verdict again = cascade::verify(back, fuzz::kKeys, 2, allowed, 2, fuzz::kNow,
                                                 method, target, host, &hop, &time);
  FUZZ_CHECK(again ==
             (send_hop <= cascade::kMaxHops ? cascade::Verdict::kOk : cascade::Verdict::kLoop));
  if (again == cascade::Verdict::kOk) {
    cascade::NonceCache cache(4);
    const auto first = cache.insert(back.nonce, time, fuzz::kNow);
    if (first == cascade::NonceCache::Result::kFresh) {
      FUZZ_CHECK(cache.insert(back.nonce, time, fuzz::kNow) ==
                 cascade::NonceCache::Result::kReplay);
    }
  }
  return 0;
}
