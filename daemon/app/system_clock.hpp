// SPDX-License-Identifier: Apache-2.0
/// @file
/// The real clock, and a manual one for tests.
#pragma once

#include <chrono>

#include "ports/clock.hpp"

namespace zonegate::app {

class SystemClock final : public ports::Clock {
 public:
  [[nodiscard]] core::Instant now() const override {
    return std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now());
  }
};

class ManualClock final : public ports::Clock {
 public:
  explicit ManualClock(core::Instant start) : now_(start) {}
  [[nodiscard]] core::Instant now() const override { return now_; }
  void set(core::Instant t) { now_ = t; }
  void advance(core::Duration d) { now_ += d; }

 private:
  core::Instant now_;
};

}  // namespace zonegate::app
