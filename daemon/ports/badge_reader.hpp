// SPDX-License-Identifier: Apache-2.0
/// @file
/// Port: a badge reader at one side of a door. Implemented by adapters/nfc (libnfc + libfreefare)
/// and sim/ (taps injected through the control socket).
#pragma once

#include <functional>
#include <string>

#include "core/types.hpp"

namespace zonegate::ports {

struct CardRead {
  std::string reader_id;
  std::string uid_hex;                                    ///< upper-case hex, no separators
  core::CredentialKind kind = core::CredentialKind::uid;  ///< desfire only after a good AES login
  bool auth_failed = false;                               ///< a DESFire card that failed authentication
};

struct ReaderStatus {
  std::string reader_id;
  bool online = false;
  std::string detail;
};

class BadgeReader {
 public:
  using OnCard = std::function<void(const CardRead&)>;
  using OnStatus = std::function<void(const ReaderStatus&)>;
  virtual ~BadgeReader() = default;
  /// Starts reading; callbacks run on the daemon's event loop.
  virtual void start(OnCard on_card, OnStatus on_status) = 0;
  /// Stops promptly; no callback runs after stop() returns.
  virtual void stop() = 0;
  [[nodiscard]] virtual const std::string& id() const = 0;
};

}  // namespace zonegate::ports
