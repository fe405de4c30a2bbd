// SPDX-License-Identifier: Apache-2.0
/// @file
/// The simulated twin of an NFC reader: cards are "tapped" by the control socket or by tests.
#pragma once

#include <boost/asio/io_context.hpp>
#include <string>

#include "ports/badge_reader.hpp"

namespace zonegate::sim {

class SimReader final : public ports::BadgeReader {
 public:
  SimReader(boost::asio::io_context& io, std::string id);

  void start(OnCard on_card, OnStatus on_status) override;
  void stop() override;
  [[nodiscard]] const std::string& id() const override { return id_; }

  /// Presents a card as the real adapter would report it, on the event loop. Ignored while the
  /// reader is stopped or offline (a dead reader reads nothing).
  void tap(std::string uid_hex, core::CredentialKind kind, bool auth_failed = false);
  /// Fault injection: the reader goes offline (reported once) or comes back.
  void set_online(bool online, std::string detail = {});
  [[nodiscard]] bool online() const { return online_; }

 private:
  boost::asio::io_context& io_;
  std::string id_;
  OnCard on_card_;
  OnStatus on_status_;
  bool running_ = false;
  bool online_ = true;
};

}  // namespace zonegate::sim
