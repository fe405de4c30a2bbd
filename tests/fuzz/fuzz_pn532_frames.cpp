// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: bytes a host (or line noise) sends to the emulated PN532. Exercises the host-frame
// parser (tools/pn532emu/frame.cpp) and, through well-formed frames built from the input, every
// command handler and the DESFire APDU interpreter of the chip model.
//
// Input: byte 0 picks the scene (card in the field, faults armed, how to frame the rest); the rest is
// either raw serial bytes fed in input-chosen chunks, or a list of length-prefixed command payloads
// wrapped into frames with correct checksums, so that the fuzzer gets past the checksums.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#ifdef ZONEGATE_HAVE_PN532EMU  // defined when tools/pn532emu is part of the build

#include "pn532emu/frame.hpp"
#include "pn532emu/pn532_model.hpp"

namespace {

using namespace zonegate::pn532emu;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

/// Parser invariants on arbitrary input, and build → parse round trips for every frame found.
void parser_properties(std::span<const std::uint8_t> bytes) {
  HostFrameParser parser;
  std::vector<HostItem> items;
  parser.feed(bytes, items);
  for (const auto& item : items) {
    if (item.kind != HostItem::Kind::frame) {
      check(item.body.empty());
      continue;
    }
    check(!item.body.empty() && item.body.size() <= kMaxFrameBody);
    const auto rebuilt = build_frame(item.body[0], std::span<const std::uint8_t>(item.body).subspan(1));
    HostFrameParser again;
    std::vector<HostItem> back;
    again.feed(rebuilt, back);
    check(back.size() == 1 && back[0].kind == HostItem::Kind::frame && back[0].body == item.body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t scene = data[0];
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  parser_properties(rest);

  Pn532Model model(1);
  auto now = Pn532Model::Clock::time_point{};
  if ((scene & 0x03) == 1) {
    DesfireApplication app{{0x01, 0x10, 0xF5}, {AesKey{}, AesKey{}}};
    (void)model.present(Card::desfire_ev1({0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}, {app}), now);
  } else if ((scene & 0x03) == 2) {
    (void)model.present(Card::uid_only({0xDE, 0xAD, 0xBE, 0xEF}), now);
  }
  if ((scene & 0x04) != 0) {
    for (std::size_t f = 0; f < static_cast<std::size_t>(Fault::count_); ++f) model.arm(static_cast<Fault>(f), 1);
  }
  if ((scene & 0x08) != 0) model.set_hung(true);

  std::size_t output = 0;
  if ((scene & 0x10) == 0) {
    // Raw bytes, in chunks whose sizes come from the input itself.
    std::size_t i = 0;
    while (i < rest.size()) {
      const std::size_t chunk = std::min<std::size_t>(1 + rest[i] % 17, rest.size() - i);
      output += model.on_host_bytes(rest.subspan(i, chunk), now).size();
      i += chunk;
      now += std::chrono::milliseconds(50);
      output += model.on_tick(now).size();
    }
  } else {
    // [len][payload…] records, each sent as a checksummed D4 frame.
    std::size_t i = 0;
    while (i < rest.size()) {
      const std::size_t len = std::min<std::size_t>(rest[i], rest.size() - i - 1);
      const auto frame = build_frame(kTfiHostToPn532, rest.subspan(i + 1, len));
      output += model.on_host_bytes(frame, now).size();
      i += 1 + len;
      if ((scene & 0x20) != 0 && (i & 1) != 0) model.remove_card();
      now += std::chrono::milliseconds(200);
      output += model.on_tick(now).size();
    }
  }
  (void)model.on_tick(now + std::chrono::seconds(10));
  check(model.stats().host_frames <= size);
  (void)output;
  return 0;
}

#else  // The target was created by a build without the emulator library: nothing to fuzz.

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }

#endif
