// SPDX-License-Identifier: Apache-2.0
/// @file
/// Errors of the console adapter: a value or an Error, no exceptions after open (the same shape as
/// the credential and audit stores).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace zonegate::adapters::web {

enum class Errc : std::uint8_t {
  not_found,         ///< no such operator
  conflict,          ///< the operator exists already
  invalid_argument,  ///< malformed name, role or stored hash
  weak_password,     ///< the password fails the policy (message says why)
  disk_full,
  io_error,
  corrupt,
  busy,
  crypto,  ///< the random generator or the KDF failed
  internal,
};
std::string_view to_string(Errc e);

struct Error {
  Errc code = Errc::internal;
  std::string message;
};

/// A value or an Error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit by design
  [[nodiscard]] bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  [[nodiscard]] T& value() & { return std::get<0>(state_); }
  [[nodiscard]] const T& value() const& { return std::get<0>(state_); }
  [[nodiscard]] const Error& error() const { return std::get<1>(state_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

 private:
  std::variant<T, Error> state_;
};

struct Done {};

}  // namespace zonegate::adapters::web
