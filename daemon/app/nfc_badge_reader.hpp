// SPDX-License-Identifier: Apache-2.0
/// @file
/// ports::BadgeReader over the libnfc adapter: one PN532 reader at one side of a door.
#pragma once

#include <memory>
#include <string>

#include "adapters/nfc/nfc_reader.hpp"
#include "ports/badge_reader.hpp"

namespace zonegate::app {

class NfcBadgeReader final : public ports::BadgeReader {
 public:
  NfcBadgeReader(boost::asio::io_context& io, adapters::nfc::ReaderConfig config)
      : io_(io), config_(std::move(config)) {}
  ~NfcBadgeReader() override { stop(); }

  void start(OnCard on_card, OnStatus on_status) override {
    adapters::nfc::ReaderCallbacks cb;
    cb.on_card = [on_card](const adapters::nfc::CardRead& c) {
      if (on_card) on_card(ports::CardRead{c.reader_id, c.uid_hex, c.kind, c.auth_failed});
    };
    cb.on_status = [on_status](const adapters::nfc::ReaderStatus& s) {
      if (on_status) on_status(ports::ReaderStatus{s.reader_id, s.online, s.hung ? "hung: " + s.detail : s.detail});
    };
    reader_ = std::make_unique<adapters::nfc::NfcReader>(io_, config_, std::move(cb));
    reader_->start();
  }
  void stop() override {
    if (reader_) reader_->stop();
    reader_.reset();
  }
  [[nodiscard]] const std::string& id() const override { return config_.id; }

 private:
  boost::asio::io_context& io_;
  adapters::nfc::ReaderConfig config_;
  std::unique_ptr<adapters::nfc::NfcReader> reader_;
};

}  // namespace zonegate::app
