// SPDX-License-Identifier: Apache-2.0
// Helpers for the operator, session and role tests: a temporary directory and instants.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "core/types.hpp"

namespace zonegate::test {

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class OperatorTempDir {
 public:
  OperatorTempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/zonegate-web-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  OperatorTempDir(const OperatorTempDir&) = delete;
  OperatorTempDir& operator=(const OperatorTempDir&) = delete;
  ~OperatorTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// 2026-03-02T08:00:00Z plus `ms`.
inline core::Instant t0(std::int64_t ms = 0) { return core::Instant{core::Duration{1772438400000LL + ms}}; }

}  // namespace zonegate::test
