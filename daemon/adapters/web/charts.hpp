// SPDX-License-Identifier: Apache-2.0
/// @file
/// The auditor's charts, drawn server-side as self-contained SVG (no script, no external
/// reference, every text escaped): entries per hour per zone as lines, denials by reason as bars.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/types.hpp"

namespace zonegate::adapters::web {

/// One line of the hourly chart: a name and one count per hour.
struct HourlySeries {
  std::string name;
  std::vector<std::uint64_t> counts;
};

/// Lines of counts per hour from `first_hour` on (every series has the same number of hours).
/// `note` (e.g. "incomplete: …") is printed under the title when not empty.
std::string hourly_chart_svg(std::string_view title, core::Instant first_hour, const std::vector<HourlySeries>& series,
                             std::string_view note = {});

/// Horizontal bars, in the order given.
std::string bar_chart_svg(std::string_view title, const std::vector<std::pair<std::string, std::uint64_t>>& bars,
                          std::string_view note = {});

/// Text made safe for XML character data and attribute values.
std::string xml_escape(std::string_view text);

/// A tick step from {1, 2, 5} × 10^k such that `max` needs at most about `ticks` steps.
std::uint64_t nice_step(std::uint64_t max, unsigned ticks);

}  // namespace zonegate::adapters::web
