// SPDX-License-Identifier: Apache-2.0
#include "pn532emu/pn532_model.hpp"

#include <algorithm>

namespace zonegate::pn532emu {
namespace {

// Command codes (PN532 User Manual §7).
constexpr std::uint8_t kDiagnose = 0x00;
constexpr std::uint8_t kGetFirmwareVersion = 0x02;
constexpr std::uint8_t kGetGeneralStatus = 0x04;
constexpr std::uint8_t kReadRegister = 0x06;
constexpr std::uint8_t kWriteRegister = 0x08;
constexpr std::uint8_t kReadGpio = 0x0C;
constexpr std::uint8_t kWriteGpio = 0x0E;
constexpr std::uint8_t kSetSerialBaudRate = 0x10;
constexpr std::uint8_t kSetParameters = 0x12;
constexpr std::uint8_t kSamConfiguration = 0x14;
constexpr std::uint8_t kPowerDown = 0x16;
constexpr std::uint8_t kRfConfiguration = 0x32;
constexpr std::uint8_t kInDataExchange = 0x40;
constexpr std::uint8_t kInCommunicateThru = 0x42;
constexpr std::uint8_t kInDeselect = 0x44;
constexpr std::uint8_t kInJumpForPsl = 0x46;
constexpr std::uint8_t kInListPassiveTarget = 0x4A;
constexpr std::uint8_t kInPsl = 0x4E;
constexpr std::uint8_t kInAtr = 0x50;
constexpr std::uint8_t kInRelease = 0x52;
constexpr std::uint8_t kInSelect = 0x54;
constexpr std::uint8_t kInJumpForDep = 0x56;
constexpr std::uint8_t kInAutoPoll = 0x60;

// Status bytes of In* replies.
constexpr std::uint8_t kStatusOk = 0x00;
constexpr std::uint8_t kStatusTimeout = 0x01;        // the target did not answer
constexpr std::uint8_t kStatusNotAcceptable = 0x27;  // no such target in the current context

constexpr std::uint8_t kParamAutoRats = 0x10;
constexpr auto kMaxAutoPollWait = std::chrono::milliseconds(2000);

constexpr std::array<std::string_view, static_cast<std::size_t>(Fault::count_)> kFaultNames{
    "garble-response", "bad-checksum",     "truncate-response",    "garble-ack",      "drop-response",
    "rf-timeout",      "empty-card-reply", "remove-card-mid-auth", "garble-exchange", "poll-error",
};

/// The UID a host asks for in InListPassiveTarget's initiator data (cascade tags removed).
std::vector<std::uint8_t> requested_uid(std::span<const std::uint8_t> d) {
  if (d.size() == 8 && d[0] == 0x88) {
    std::vector<std::uint8_t> uid(d.begin() + 1, d.begin() + 4);
    uid.insert(uid.end(), d.begin() + 4, d.end());
    return uid;
  }
  if (d.size() == 12 && d[0] == 0x88 && d[4] == 0x88) {
    std::vector<std::uint8_t> uid(d.begin() + 1, d.begin() + 4);
    uid.insert(uid.end(), d.begin() + 5, d.begin() + 8);
    uid.insert(uid.end(), d.begin() + 8, d.end());
    return uid;
  }
  return {d.begin(), d.end()};
}

}  // namespace

std::string_view to_string(Fault f) { return kFaultNames.at(static_cast<std::size_t>(f)); }

std::optional<Fault> fault_from_string(std::string_view s) {
  for (std::size_t i = 0; i < kFaultNames.size(); ++i) {
    if (kFaultNames[i] == s) return static_cast<Fault>(i);
  }
  return std::nullopt;
}

Pn532Model::Pn532Model(std::uint32_t seed) : rng_(seed) {}

void Pn532Model::arm(Fault f, unsigned count) { armed_.at(static_cast<std::size_t>(f)) += count; }

void Pn532Model::clear_faults() {
  armed_.fill(0);
  hung_ = false;
}

bool Pn532Model::take(Fault f) {
  auto& n = armed_.at(static_cast<std::size_t>(f));
  if (n == 0) return false;
  --n;
  ++stats_.faults_fired;
  return true;
}

std::vector<std::uint8_t> Pn532Model::on_host_bytes(std::span<const std::uint8_t> bytes, Clock::time_point now) {
  std::vector<std::uint8_t> out;
  if (hung_) {
    stats_.bytes_ignored_while_hung += bytes.size();
    return out;
  }
  if (trace_) trace_("host", bytes);
  std::vector<HostItem> items;
  parser_.feed(bytes, items);
  for (const auto& item : items) {
    switch (item.kind) {
      case HostItem::Kind::frame:
        ++stats_.host_frames;
        on_frame(out, item.body, now);
        break;
      case HostItem::Kind::ack:  // the host aborts whatever is running
        ++stats_.host_acks;
        pending_.reset();
        break;
      case HostItem::Kind::nack:
        ++stats_.host_nacks;
        out.insert(out.end(), last_reply_.begin(), last_reply_.end());
        break;
      case HostItem::Kind::bad_length_checksum:
      case HostItem::Kind::bad_data_checksum:
      case HostItem::Kind::oversize:
        ++stats_.bad_host_frames;  // a PN532 silently drops such frames; the host times out
        break;
    }
  }
  if (trace_ && !out.empty()) trace_("chip", out);
  return out;
}

std::optional<Pn532Model::Clock::time_point> Pn532Model::next_deadline() const {
  if (pending_ && pending_->due && !hung_) return pending_->due;
  return std::nullopt;
}

std::vector<std::uint8_t> Pn532Model::on_tick(Clock::time_point now) {
  std::vector<std::uint8_t> out;
  if (hung_ || !pending_ || !pending_->due || now < *pending_->due) return out;
  const std::uint8_t command = pending_->command;
  pending_.reset();
  const std::array<std::uint8_t, 1> none{0x00};
  reply(out, command, none);
  if (trace_ && !out.empty()) trace_("chip", out);
  return out;
}

std::vector<std::uint8_t> Pn532Model::present(Card card, Clock::time_point now) {
  (void)now;
  card_ = std::move(card);
  deselect();
  std::vector<std::uint8_t> out;
  if (hung_ || !pending_) return out;
  // A poll that has been waiting for a card answers now.
  const Pending p = std::move(*pending_);
  pending_.reset();
  std::optional<std::vector<std::uint8_t>> found =
      p.command == kInListPassiveTarget ? list_target(p.request) : autopoll_target(p.request);
  if (found) {
    reply(out, p.command, *found);
  } else {
    pending_ = p;  // not the card it waits for
  }
  if (trace_ && !out.empty()) trace_("chip", out);
  return out;
}

void Pn532Model::remove_card() {
  // The chip still believes its target is selected: the next exchange times out on the air.
  card_.reset();
  session_ = DesfireSession{};
}

void Pn532Model::activate(bool iso_dep) {
  selected_ = true;
  iso_dep_ = iso_dep;
  session_ = DesfireSession{};
}

void Pn532Model::deselect() {
  selected_ = false;
  iso_dep_ = false;
  session_ = DesfireSession{};
}

void Pn532Model::reply(std::vector<std::uint8_t>& out, std::uint8_t command, std::span<const std::uint8_t> data,
                       bool garble) {
  std::vector<std::uint8_t> payload{static_cast<std::uint8_t>(command + 1)};
  payload.insert(payload.end(), data.begin(), data.end());
  auto frame = build_frame(kTfiPn532ToHost, payload);
  last_reply_ = frame;
  // Normal frame layout: 00 00 FF LEN LCS | TFI CMD data… | DCS 00. Body = [5, size-2).
  const std::size_t body_begin = frame[3] == 0xFF && frame[4] == 0xFF ? 8 : 5;
  const std::size_t dcs = frame.size() - 2;
  if (garble || take(Fault::garble_response)) {
    for (std::size_t i = body_begin; i < dcs; ++i) frame[i] = static_cast<std::uint8_t>(rng_() & 0xFF);
    std::uint8_t sum = frame[dcs];
    for (std::size_t i = body_begin; i < dcs; ++i) sum = static_cast<std::uint8_t>(sum + frame[i]);
    // Keep the checksum wrong: a random body with a valid checksum could carry any status byte,
    // and libnfc 1.8 calls abort() on an InDataExchange status with the NAD bit (0x80) set.
    if (sum == 0) frame[dcs] = static_cast<std::uint8_t>(frame[dcs] + 1);
  } else if (take(Fault::bad_checksum)) {
    frame[dcs] = static_cast<std::uint8_t>(frame[dcs] + 1);
  } else if (take(Fault::truncate_response)) {
    frame.resize(frame.size() / 2);
  }
  out.insert(out.end(), frame.begin(), frame.end());
}

void Pn532Model::error_frame(std::vector<std::uint8_t>& out) {
  last_reply_.assign(kErrorFrame.begin(), kErrorFrame.end());
  out.insert(out.end(), kErrorFrame.begin(), kErrorFrame.end());
}

void Pn532Model::on_frame(std::vector<std::uint8_t>& out, const std::vector<std::uint8_t>& body,
                          Clock::time_point now) {
  if (body.size() < 2 || body[0] != kTfiHostToPn532) {
    ++stats_.bad_host_frames;  // not addressed to the chip, or no command code: ignored
    return;
  }
  pending_.reset();  // a new command supersedes one that was waiting
  const std::uint8_t command = body[1];
  const std::span<const std::uint8_t> data(body.data() + 2, body.size() - 2);
  ++stats_.commands[command];

  if (take(Fault::garble_ack)) {
    out.insert(out.end(), {0x00, 0x00, 0xFF, 0x00, 0x00, 0x55});
  } else {
    out.insert(out.end(), kAckFrame.begin(), kAckFrame.end());
  }
  if (take(Fault::drop_response)) return;

  switch (command) {
    case kDiagnose: {
      ++stats_.diagnose;
      if (data.empty()) return error_frame(out);
      if (data[0] == 0x00) return reply(out, command, data);  // communication line test: echo
      if (data[0] == 0x06) {                                  // card presence
        const std::array<std::uint8_t, 1> status{card_ && selected_ ? kStatusOk : kStatusTimeout};
        return reply(out, command, status);
      }
      const std::array<std::uint8_t, 1> ok{kStatusOk};
      return reply(out, command, ok);
    }
    case kGetFirmwareVersion: {
      const std::array<std::uint8_t, 4> version{0x32, 0x01, 0x06, 0x07};  // PN532 v1.6, ISO A, B, 18092
      return reply(out, command, version);
    }
    case kGetGeneralStatus: {
      std::vector<std::uint8_t> s{0x00, static_cast<std::uint8_t>(rf_field_ ? 1 : 0),
                                  static_cast<std::uint8_t>(selected_ ? 1 : 0)};
      if (selected_) s.insert(s.end(), {0x01, 0x00, 0x00, 0x00});
      s.push_back(0x00);  // SAM status
      return reply(out, command, s);
    }
    case kReadRegister: {
      if (data.empty() || data.size() % 2 != 0) return error_frame(out);
      std::vector<std::uint8_t> values;
      for (std::size_t i = 0; i < data.size(); i += 2) {
        const auto address = static_cast<std::uint16_t>((data[i] << 8) | data[i + 1]);
        const auto it = registers_.find(address);
        values.push_back(it == registers_.end() ? 0x00 : it->second);
      }
      return reply(out, command, values);
    }
    case kWriteRegister: {
      if (data.empty() || data.size() % 3 != 0) return error_frame(out);
      for (std::size_t i = 0; i < data.size(); i += 3) {
        registers_[static_cast<std::uint16_t>((data[i] << 8) | data[i + 1])] = data[i + 2];
      }
      return reply(out, command, {});
    }
    case kReadGpio: {
      const std::array<std::uint8_t, 3> gpio{0xFF, 0x07, 0x00};
      return reply(out, command, gpio);
    }
    case kWriteGpio:
    case kSetSerialBaudRate:
      return reply(out, command, {});
    case kSetParameters:
      if (data.size() != 1) return error_frame(out);
      parameters_ = data[0];
      return reply(out, command, {});
    case kSamConfiguration:
      if (data.empty() || data[0] < 0x01 || data[0] > 0x04) return error_frame(out);
      return reply(out, command, {});
    case kPowerDown: {
      if (data.empty()) return error_frame(out);
      rf_field_ = false;
      deselect();
      const std::array<std::uint8_t, 1> ok{kStatusOk};
      return reply(out, command, ok);
    }
    case kRfConfiguration:
      if (data.empty()) return error_frame(out);
      if (data[0] == 0x01 && data.size() >= 2) {
        rf_field_ = (data[1] & 0x01) != 0;
        if (!rf_field_) deselect();  // no field, no powered card
      } else if (data[0] == 0x05 && data.size() >= 4) {
        passive_retries_ = data[3];
      }
      return reply(out, command, {});
    case kInListPassiveTarget:
      return in_list_passive_target(out, data, now);
    case kInAutoPoll:
      return in_auto_poll(out, data, now);
    case kInDataExchange:
      return in_data_exchange(out, data);
    case kInCommunicateThru:
      return in_communicate_thru(out, data);
    case kInDeselect:
    case kInRelease: {
      // DESELECT goes over the air: a selected card that has left the field does not answer it.
      const std::array<std::uint8_t, 1> status{selected_ && !card_ ? kStatusTimeout : kStatusOk};
      deselect();
      return reply(out, command, status);
    }
    case kInSelect: {
      if (card_) activate(iso_dep_);
      const std::array<std::uint8_t, 1> status{card_ ? kStatusOk : kStatusTimeout};
      return reply(out, command, status);
    }
    case kInJumpForDep:
    case kInJumpForPsl:
    case kInPsl:
    case kInAtr: {  // no NFC-DEP peers in this field
      const std::array<std::uint8_t, 1> timeout{kStatusTimeout};
      return reply(out, command, timeout);
    }
    default:
      return error_frame(out);  // target mode and the rest: not emulated
  }
}

std::vector<std::uint8_t> Pn532Model::target_data(bool with_ats) const {
  std::vector<std::uint8_t> t{0x01, card_->atqa[0], card_->atqa[1], card_->sak,
                              static_cast<std::uint8_t>(card_->uid.size())};
  t.insert(t.end(), card_->uid.begin(), card_->uid.end());
  if (with_ats) {
    t.push_back(static_cast<std::uint8_t>(card_->ats.size() + 1));
    t.insert(t.end(), card_->ats.begin(), card_->ats.end());
  }
  return t;
}

std::optional<std::vector<std::uint8_t>> Pn532Model::list_target(std::span<const std::uint8_t> data) {
  // data: MaxTg BrTy [InitiatorData]. Only 106 kbps type A cards live in this field.
  if (!card_ || !rf_field_ || data.size() < 2 || data[1] != 0x00) return std::nullopt;
  if (data.size() > 2 && requested_uid(data.subspan(2)) != card_->uid) return std::nullopt;
  const bool rats = !card_->ats.empty() && (parameters_ & kParamAutoRats) != 0;
  activate(rats);
  std::vector<std::uint8_t> r{0x01};
  const auto t = target_data(rats);
  r.insert(r.end(), t.begin(), t.end());
  return r;
}

std::optional<std::vector<std::uint8_t>> Pn532Model::autopoll_target(std::span<const std::uint8_t> data) {
  // data: PollNr Period Type1 [Type2 …]; reply: NbTg Type Len TargetData.
  if (!card_ || !rf_field_ || data.size() < 3) return std::nullopt;
  const bool card_iso_dep = !card_->ats.empty();
  for (const std::uint8_t type : data.subspan(2)) {
    const bool generic = type == 0x00;
    if ((type == 0x20 && card_iso_dep) || type == 0x10 || generic) {
      const bool rats = card_iso_dep && type != 0x10;
      activate(rats);
      const auto t = target_data(rats);
      std::vector<std::uint8_t> r{0x01, type, static_cast<std::uint8_t>(t.size())};
      r.insert(r.end(), t.begin(), t.end());
      return r;
    }
  }
  return std::nullopt;
}

void Pn532Model::in_list_passive_target(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> data,
                                        Clock::time_point now) {
  (void)now;
  ++stats_.polls;
  if (data.size() < 2 || data[0] < 1 || data[0] > 2 || take(Fault::poll_error)) return error_frame(out);
  deselect();
  if (auto found = list_target(data)) return reply(out, kInListPassiveTarget, *found);
  if (passive_retries_ == 0xFF && data[1] == 0x00) {
    pending_ = Pending{kInListPassiveTarget, std::nullopt, {data.begin(), data.end()}};  // waits for a card
    return;
  }
  const std::array<std::uint8_t, 1> none{0x00};
  reply(out, kInListPassiveTarget, none);
}

void Pn532Model::in_auto_poll(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> data,
                              Clock::time_point now) {
  ++stats_.polls;
  if (data.size() < 3 || data[1] == 0 || data[0] == 0 || take(Fault::poll_error)) return error_frame(out);
  deselect();
  if (auto found = autopoll_target(data)) return reply(out, kInAutoPoll, *found);
  Pending p{kInAutoPoll, std::nullopt, {data.begin(), data.end()}};
  if (data[0] != 0xFF) {  // PollNr × Period × 150 ms per type, capped to keep tests quick
    const auto wait = std::chrono::milliseconds(150) * data[0] * data[1] * static_cast<int>(data.size() - 2);
    p.due = now + std::min<Clock::duration>(wait, kMaxAutoPollWait);
  }
  pending_ = std::move(p);
}

void Pn532Model::in_data_exchange(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> data) {
  ++stats_.data_exchanges;
  if (data.empty() || data[0] != 0x01 || !selected_) {
    const std::array<std::uint8_t, 1> status{kStatusNotAcceptable};
    return reply(out, kInDataExchange, status);
  }
  if (!card_ || !iso_dep_ || !card_->desfire || take(Fault::rf_timeout)) {
    const std::array<std::uint8_t, 1> status{kStatusTimeout};
    return reply(out, kInDataExchange, status);
  }
  if (take(Fault::empty_card_reply)) {
    const std::array<std::uint8_t, 1> status{kStatusOk};
    return reply(out, kInDataExchange, status);
  }
  auto r = session_.process(*card_, data.subspan(1), rng_);
  std::vector<std::uint8_t> payload{kStatusOk};
  payload.insert(payload.end(), r.bytes.begin(), r.bytes.end());
  switch (r.event) {
    case DesfireSession::Event::auth_first_pass:
      ++stats_.auth_first_pass;
      break;
    case DesfireSession::Event::auth_ok:
      ++stats_.auth_ok;
      break;
    case DesfireSession::Event::auth_failed:
      ++stats_.auth_failed;
      break;
    case DesfireSession::Event::none:
      break;
  }
  reply(out, kInDataExchange, payload, take(Fault::garble_exchange));
  if (r.event == DesfireSession::Event::auth_first_pass && take(Fault::remove_card_mid_auth)) remove_card();
}

void Pn532Model::in_communicate_thru(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> data) {
  // libnfc's presence check for ISO-DEP cards sends an R(NAK) block (B2/B3) raw; the card answers R(ACK).
  if (card_ && selected_ && iso_dep_ && data.size() == 1 && (data[0] & 0xF6) == 0xB2) {
    const std::array<std::uint8_t, 2> ack{kStatusOk, static_cast<std::uint8_t>(0xA2 | (data[0] & 0x01))};
    return reply(out, kInCommunicateThru, ack);
  }
  const std::array<std::uint8_t, 1> status{kStatusTimeout};
  reply(out, kInCommunicateThru, status);
}

}  // namespace zonegate::pn532emu
