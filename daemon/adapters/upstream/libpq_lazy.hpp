// SPDX-License-Identifier: Apache-2.0
/// @file
/// libpq is loaded on first use (libpq_lazy.cpp), so a gateway without `daemon.upstream` never
/// maps it and its dependency chain.
#pragma once

#include <optional>
#include <string>

namespace zonegate::adapters::upstream {

/// Why libpq.so.5 cannot be loaded (loading it on the first call), or nullopt if it is there.
std::optional<std::string> libpq_load_error();

}  // namespace zonegate::adapters::upstream
