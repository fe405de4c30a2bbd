// SPDX-License-Identifier: Apache-2.0
#include "sim/sim_reader.hpp"

#include <boost/asio/post.hpp>
#include <utility>

namespace zonegate::sim {

SimReader::SimReader(boost::asio::io_context& io, std::string id) : io_(io), id_(std::move(id)) {}

void SimReader::start(OnCard on_card, OnStatus on_status) {
  on_card_ = std::move(on_card);
  on_status_ = std::move(on_status);
  running_ = true;
  if (on_status_) {
    boost::asio::post(io_, [this] {
      if (running_ && on_status_) on_status_(ports::ReaderStatus{id_, online_, "simulated reader"});
    });
  }
}

void SimReader::stop() {
  running_ = false;
  on_card_ = nullptr;
  on_status_ = nullptr;
}

void SimReader::tap(std::string uid_hex, core::CredentialKind kind, bool auth_failed) {
  if (!running_ || !online_) return;
  // Posted, like the real reader's thread does, so a tap never re-enters the caller.
  boost::asio::post(io_, [this, read = ports::CardRead{id_, std::move(uid_hex), kind, auth_failed}] {
    if (running_ && online_ && on_card_) on_card_(read);
  });
}

void SimReader::set_online(bool online, std::string detail) {
  if (online == online_) return;
  online_ = online;
  if (running_ && on_status_) {
    boost::asio::post(io_, [this, status = ports::ReaderStatus{id_, online, std::move(detail)}] {
      if (running_ && on_status_) on_status_(status);
    });
  }
}

}  // namespace zonegate::sim
