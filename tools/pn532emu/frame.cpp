// SPDX-License-Identifier: Apache-2.0
#include "pn532emu/frame.hpp"

namespace zonegate::pn532emu {

void HostFrameParser::reset() {
  state_ = State::start;
  saw_zero_ = false;
  len_ = 0;
  ext_len_ = 0;
  expected_ = 0;
  body_.clear();
}

void HostFrameParser::feed(std::span<const std::uint8_t> bytes, std::vector<HostItem>& out) {
  using Kind = HostItem::Kind;
  for (const std::uint8_t b : bytes) {
    switch (state_) {
      case State::start:
        // The start code is 00 FF; preamble zeros and wake-up 0x55 bytes before it are skipped.
        if (b == 0xFF && saw_zero_) {
          state_ = State::len;
        }
        saw_zero_ = (b == 0x00);
        break;
      case State::len:
        len_ = b;
        state_ = State::lcs;
        break;
      case State::lcs:
        if (len_ == 0x00 && b == 0xFF) {
          out.push_back({Kind::ack, {}});
          reset();
        } else if (len_ == 0xFF && b == 0x00) {
          out.push_back({Kind::nack, {}});
          reset();
        } else if (len_ == 0xFF && b == 0xFF) {
          state_ = State::ext_len_hi;
        } else if (static_cast<std::uint8_t>(len_ + b) != 0 || len_ == 0) {
          out.push_back({Kind::bad_length_checksum, {}});
          reset();
        } else {
          expected_ = len_;
          body_.clear();
          state_ = State::body;
        }
        break;
      case State::ext_len_hi:
        ext_len_ = static_cast<std::size_t>(b) << 8;
        state_ = State::ext_len_lo;
        break;
      case State::ext_len_lo:
        ext_len_ |= b;
        state_ = State::ext_lcs;
        break;
      case State::ext_lcs: {
        const auto sum = static_cast<std::uint8_t>((ext_len_ >> 8) + (ext_len_ & 0xFF) + b);
        if (sum != 0) {
          out.push_back({Kind::bad_length_checksum, {}});
          reset();
        } else if (ext_len_ == 0 || ext_len_ > kMaxFrameBody) {
          out.push_back({Kind::oversize, {}});
          reset();
        } else {
          expected_ = ext_len_;
          body_.clear();
          state_ = State::body;
        }
        break;
      }
      case State::body:
        body_.push_back(b);
        if (body_.size() == expected_) state_ = State::dcs;
        break;
      case State::dcs: {
        std::uint8_t sum = b;
        for (const auto x : body_) sum = static_cast<std::uint8_t>(sum + x);
        if (sum == 0) {
          out.push_back({Kind::frame, std::move(body_)});
        } else {
          out.push_back({Kind::bad_data_checksum, {}});
        }
        reset();  // the postamble 00 is skipped by the start-code search
        break;
      }
    }
  }
}

std::vector<std::uint8_t> build_frame(std::uint8_t tfi, std::span<const std::uint8_t> data) {
  const std::size_t len = data.size() + 1;  // TFI + data
  std::vector<std::uint8_t> frame;
  frame.reserve(data.size() + 11);
  frame.push_back(0x00);
  frame.push_back(0x00);
  frame.push_back(0xFF);
  if (len <= 0xFE) {
    frame.push_back(static_cast<std::uint8_t>(len));
    frame.push_back(static_cast<std::uint8_t>(0x100 - len));
  } else {
    const auto hi = static_cast<std::uint8_t>(len >> 8);
    const auto lo = static_cast<std::uint8_t>(len & 0xFF);
    frame.push_back(0xFF);
    frame.push_back(0xFF);
    frame.push_back(hi);
    frame.push_back(lo);
    frame.push_back(static_cast<std::uint8_t>(0x100 - ((hi + lo) & 0xFF)));
  }
  frame.push_back(tfi);
  std::uint8_t sum = tfi;
  for (const auto b : data) {
    frame.push_back(b);
    sum = static_cast<std::uint8_t>(sum + b);
  }
  frame.push_back(static_cast<std::uint8_t>(0x100 - sum));
  frame.push_back(0x00);
  return frame;
}

}  // namespace zonegate::pn532emu
