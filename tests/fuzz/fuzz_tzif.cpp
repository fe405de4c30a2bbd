// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the TZif parser: arbitrary bytes must yield a zone or an error, never a
// crash, and any accepted zone must produce sane local times.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/tzif.hpp"
#include "core/timezone.hpp"

namespace {

void check_local(const zonegate::core::TimeZone& tz, zonegate::core::Instant t) {
  const zonegate::core::LocalTime lt = tz.local(t);
  if (lt.second_of_day < 0 || lt.second_of_day >= 86400 || lt.minute_of_day != lt.second_of_day / 60 ||
      lt.weekday > 6 || lt.offset_seconds != tz.offset_at(t)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto tz = zonegate::config::parse_tzif("Fuzz/Zone", bytes, &error);
  if (!tz) {
    if (error.empty()) std::abort();  // every rejection must say why
    return 0;
  }
  using std::chrono::seconds;
  using zonegate::core::Instant;
  for (const std::int64_t s :
       {std::int64_t{-5'000'000'000}, std::int64_t{-1}, std::int64_t{0}, std::int64_t{1'798'761'600} /* 2027-01-01 */,
        std::int64_t{1'806'019'200}, std::int64_t{2'208'988'800} /* 2040 */, std::int64_t{4'102'444'800} /* 2100 */,
        std::int64_t{253'402'300'799}}) {
    check_local(*tz, Instant{seconds{s}});
  }
  check_local(*tz, Instant::min());
  check_local(*tz, Instant::max());
  return 0;
}
