// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the times and durations the CLI reads from its command line and from scenario
// and people files (tools/zonegate/time_parse.cpp). Properties, besides "no crash, no UB":
// - a parsed duration is non-negative, and format_duration → parse_duration gives it back;
// - a time accepted with an explicit offset is accepted the same without a site zone;
// - every rejection comes with a one-line reason.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/timezone.hpp"
#include "zonegate/time_parse.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_reason(const std::string& error) { check(!error.empty() && error.find('\n') == std::string::npos); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace zonegate;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::string error;
  if (const auto d = cli::parse_duration(text, &error)) {
    check(d->count() >= 0);
    std::string again_error;
    const auto back = cli::parse_duration(cli::format_duration(*d), &again_error);
    check(back.has_value() && *back == *d);
  } else {
    check_reason(error);
  }

  // A zone with an odd offset, so that local text and UTC text differ.
  static const core::TimeZone site = core::TimeZone::fixed("Site/Fixed", 5 * 3600 + 30 * 60);
  const core::TimeZone utc;
  error.clear();
  const auto with_zone = cli::parse_time(text, &site, &error);
  if (!with_zone) check_reason(error);
  std::string bare_error;
  const auto bare = cli::parse_time(text, nullptr, &bare_error);
  if (bare) {
    // Text that carries its own offset means the same instant whatever the site zone is.
    check(with_zone.has_value() && *with_zone == *bare);
    (void)cli::format_local(*bare, utc);
  } else {
    check_reason(bare_error);
  }
  return 0;
}
