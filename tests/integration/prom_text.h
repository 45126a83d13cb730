// A small parser of the Prometheus text exposition format 0.0.4, for the metrics tests:
// samples (name, labels, value) and the `# TYPE` of each family. Strict enough to fail a
// test on a malformed line; promtool is the real format check.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace ringway::integration {

class Gateway;

using Labels = std::map<std::string, std::string, std::less<>>;

struct PromSample {
  std::string name;
  Labels labels;
  double value = 0;
};

struct PromText {
  std::vector<PromSample> samples;           // in exposition order
  std::map<std::string, std::string> types;  // family name -> counter|gauge|histogram|...
  std::map<std::string, std::string> help;   // family name -> help text

  // The sample named `name` whose labels are exactly `labels`; nullopt if absent.
  std::optional<double> Value(std::string_view name, const Labels& labels = {}) const;
  // The samples named `name` that have every label of `subset` (others may differ).
  std::vector<const PromSample*> Select(std::string_view name, const Labels& subset = {}) const;
  // The sum of Select(name, subset)'s values (0 when none).
  double Sum(std::string_view name, const Labels& subset = {}) const;
  bool Has(std::string_view name) const { return !Select(name).empty(); }
};

// Parses `text`; on a malformed line returns nullopt with `*error` naming the line.
std::optional<PromText> ParsePromText(std::string_view text, std::string* error);

// GET /metrics of `gw`'s admin listener (its `listening name=admin` port), checked for the
// 0.0.4 content type and parsed; a failure names what went wrong.
::testing::AssertionResult ScrapeMetrics(const Gateway& gw, PromText* out);

// "+Inf", "-Inf", "NaN" or a decimal / exponent number, as the format spells values.
std::optional<double> ParsePromValue(std::string_view s);

}  // namespace ringway::integration
