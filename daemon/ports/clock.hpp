// SPDX-License-Identifier: Apache-2.0
/// @file
/// Port: the wall clock. The daemon reads time only through this, so tests run on a manual clock.
#pragma once

#include "core/types.hpp"

namespace zonegate::ports {

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual core::Instant now() const = 0;
};

}  // namespace zonegate::ports
