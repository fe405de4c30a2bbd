// SPDX-License-Identifier: Apache-2.0
// Tests of the `hardware:` and `daemon:` sections of zones.yaml: the compiled values of the sample
// site and of a real gateway's file, the defaults when the sections are absent (every line of the
// simulated site named), the ranges of the values, and that nothing is returned with errors.
// The error texts themselves are checked by the tests/data/bad/{hw,daemon}-*.yaml samples.
#include "config/hardware.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/loader.hpp"

#ifndef ZONEGATE_SOURCE_DIR
#error "ZONEGATE_SOURCE_DIR must be defined to the repository root"
#endif

namespace {

namespace fs = std::filesystem;
using namespace zonegate;
using namespace std::chrono_literals;
using config::DoorHardware;
using config::GateHardware;
using config::HardwareConfig;
using config::LineSpec;
using config::LoadResult;

const fs::path kSourceDir{ZONEGATE_SOURCE_DIR};

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<core::TimeZone> test_zones(std::string_view name, std::string* error) {
  if (name == "Asia/Tokyo") return core::TimeZone::fixed("Asia/Tokyo", 9 * 3600);
  if (name == "UTC") return core::TimeZone{};
  if (error != nullptr) *error = "no such zone in the test loader";
  return std::nullopt;
}

LoadResult load(std::string_view text) { return config::load_policy_text(text, "hw.yaml", test_zones); }

std::string error_lines(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

const LoadResult& require_ok(const LoadResult& r) {
  INFO(error_lines(r));
  REQUIRE(r.errors.empty());
  REQUIRE(r.ok());
  REQUIRE(r.policy != nullptr);
  REQUIRE(r.hardware != nullptr);
  REQUIRE(r.daemon != nullptr);
  return r;
}

/// The errors' messages only (the samples in tests/data/bad check positions and keys).
std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.key + ": " + e.message);
  return out;
}

bool line_is(const std::optional<LineSpec>& l, std::string_view name, bool active_low = false,
             std::chrono::milliseconds debounce = 20ms) {
  return l && l->name == name && l->active_low == active_low && l->debounce == debounce;
}
bool line_is(const LineSpec& l, std::string_view name, bool active_low = false,
             std::chrono::milliseconds debounce = 20ms) {
  return l.name == name && l.active_low == active_low && l.debounce == debounce;
}

const DoorHardware& door(const HardwareConfig& hw, std::string_view id) {
  auto it = std::find_if(hw.doors.begin(), hw.doors.end(), [&](const DoorHardware& d) { return d.door == id; });
  REQUIRE(it != hw.doors.end());
  return *it;
}

// A small site for the tests below: two doors (one with request_to_exit), one gate, two tamper
// inputs. `extra` is appended (a hardware: and/or daemon: section).
std::string site(std::string_view extra = {}) {
  std::string text =
      "site: {name: t, time_zone: UTC}\n"
      "zones: {out: {}, in: {parent: out}, core: {parent: in}}\n"
      "schedules: {always: {weekly: [{days: [daily], from: \"00:00\", to: \"24:00\"}]}}\n"
      "gates: {g1: {}}\n"
      "doors:\n"
      "  front: {from: out, to: in, request_to_exit: true}\n"
      "  inner: {from: in, to: core, gate: {id: g1}}\n"
      "roles: {staff: {zones: {in: {schedule: always}}}}\n"
      "tamper: [lid, housing]\n";
  text += extra;
  return text;
}

}  // namespace

TEST_CASE("without hardware and daemon sections every line of the simulated site is named", "[config]") {
  const LoadResult r = load(site());
  require_ok(r);
  const HardwareConfig& hw = *r.hardware;
  CHECK(hw.readers == config::ReaderBackend::sim);
  CHECK(hw.gpio == config::GpioBackend::sim);

  REQUIRE(hw.doors.size() == 2);
  const DoorHardware& front = hw.doors[0];
  CHECK(front.door == "front");
  CHECK(front.index == r.policy->door_index("front").value());
  CHECK(front.reader_in.empty());
  CHECK(front.reader_out.empty());
  CHECK_FALSE(front.reader_power);
  CHECK(line_is(front.strike, "front-strike"));
  CHECK(line_is(front.sensor, "front-sensor"));
  CHECK(line_is(front.rex, "front-rex"));  // request_to_exit: true
  CHECK_FALSE(front.buzzer);
  const DoorHardware& inner = hw.doors[1];
  CHECK(inner.door == "inner");
  CHECK(inner.index == 1);
  CHECK(line_is(inner.strike, "inner-strike"));
  CHECK(line_is(inner.sensor, "inner-sensor"));
  CHECK_FALSE(inner.rex);  // request_to_exit: false

  REQUIRE(hw.gates.size() == 1);
  CHECK(hw.gates[0].gate == "g1");
  CHECK(hw.gates[0].index == 0);
  CHECK(line_is(hw.gates[0].clear, "g1-clear"));
  CHECK(line_is(hw.gates[0].alarm, "g1-alarm"));
  CHECK(line_is(hw.fire, "fire-alarm"));
  REQUIRE(hw.tamper.size() == 2);
  CHECK(hw.tamper[0].first == "lid");
  CHECK(line_is(hw.tamper[0].second, "lid"));
  CHECK(hw.tamper[1].first == "housing");
  CHECK(line_is(hw.tamper[1].second, "housing"));

  CHECK(hw.all_input_names() == std::vector<std::string>{"front-sensor", "front-rex", "inner-sensor", "g1-clear",
                                                         "g1-alarm", "fire-alarm", "lid", "housing"});
  CHECK(hw.all_output_names() == std::vector<std::string>{"front-strike", "inner-strike"});

  // NFC settings and daemon settings keep their defaults.
  CHECK(hw.nfc.master_key_file.empty());
  CHECK(hw.nfc.poll_interval == 100ms);
  CHECK(hw.nfc.hung_timeout == 3s);
  const config::DaemonSettings& d = *r.daemon;
  CHECK(d.gateway_id == "gw-local");
  CHECK(d.checkpoint_every == 1000);
  CHECK(d.checkpoint_interval == 5min);
  CHECK(d.retention == std::chrono::hours{400 * 24});
  CHECK(d.control_socket_group.empty());
  CHECK(d.log_level == "info");
}

TEST_CASE("an empty hardware section is the same as none", "[config]") {
  const LoadResult none = load(site());
  const LoadResult empty = load(site("hardware:\n"));
  require_ok(none);
  require_ok(empty);
  CHECK(empty.hardware->all_input_names() == none.hardware->all_input_names());
  CHECK(empty.hardware->all_output_names() == none.hardware->all_output_names());
}

TEST_CASE("the sample zones.yaml documents the real wiring in simulation mode", "[config]") {
  const LoadResult r = config::load_policy_text(read_text(kSourceDir / "zones.yaml"), "zones.yaml", test_zones);
  require_ok(r);
  const HardwareConfig& hw = *r.hardware;
  CHECK(hw.readers == config::ReaderBackend::sim);
  CHECK(hw.gpio == config::GpioBackend::sim);
  REQUIRE(hw.doors.size() == r.policy->doors.size());
  for (std::size_t i = 0; i < hw.doors.size(); ++i) {
    CHECK(hw.doors[i].index == i);
    CHECK(hw.doors[i].door == r.policy->doors[i].id);
    CHECK_FALSE(hw.doors[i].reader_in.empty());
    CHECK_FALSE(hw.doors[i].reader_out.empty());
    CHECK(hw.doors[i].strike);
    CHECK(hw.doors[i].sensor);
    CHECK(hw.doors[i].reader_power);
    CHECK(hw.doors[i].buzzer);
  }
  const DoorHardware& lobby = door(hw, "lobby");
  CHECK(lobby.reader_in == "pn532_uart:/dev/zonegate/reader-lobby-in");
  CHECK(lobby.reader_out == "pn532_uart:/dev/zonegate/reader-lobby-out");
  CHECK(line_is(lobby.reader_power, "lobby-reader-power"));
  CHECK(line_is(lobby.strike, "lobby-strike"));
  CHECK(line_is(lobby.sensor, "lobby-door-contact", true, 30ms));
  CHECK(line_is(lobby.rex, "lobby-rex", false, 50ms));
  CHECK(line_is(lobby.buzzer, "lobby-buzzer"));
  CHECK_FALSE(door(hw, "view-door").rex);
  CHECK(line_is(door(hw, "ops-door").sensor, "ops-door-contact", true, 30ms));
  REQUIRE(hw.gates.size() == 2);
  CHECK(hw.gates[0].gate == "view-gate");
  CHECK(line_is(hw.gates[0].clear, "view-gate-clear"));
  CHECK(line_is(hw.gates[0].alarm, "view-gate-alarm"));
  CHECK(hw.gates[1].gate == "ops-gate");
  CHECK(line_is(hw.fire, "fire-panel-relay"));
  REQUIRE(hw.tamper.size() == 1);
  CHECK(hw.tamper[0].first == "cabinet-lid");
  CHECK(line_is(hw.tamper[0].second, "cabinet-lid-switch"));
  CHECK(hw.all_input_names().size() == 10);  // 3 contacts, 1 rex, 4 gate inputs, fire, tamper
  CHECK(hw.all_output_names().size() == 9);  // 3 x (reader power, strike, buzzer)

  const config::DaemonSettings& d = *r.daemon;
  CHECK(d.gateway_id == "gw-sample-01");
  CHECK(d.checkpoint_every == 1000);
  CHECK(d.checkpoint_interval == 5min);
  CHECK(d.retention == std::chrono::hours{400 * 24});
  CHECK(d.control_socket_group == "zonegate");
  CHECK(d.log_level == "info");
}

TEST_CASE("a real gateway's file compiles to nfc readers and gpiod lines", "[config]") {
  const LoadResult r = config::load_policy_text(read_text(kSourceDir / "tests/data/good/gateway-nfc.yaml"),
                                                "gateway-nfc.yaml", test_zones);
  require_ok(r);
  const HardwareConfig& hw = *r.hardware;
  CHECK(hw.readers == config::ReaderBackend::nfc);
  CHECK(hw.gpio == config::GpioBackend::gpiod);
  CHECK(hw.nfc.master_key_file == "/etc/zonegate/desfire-master.key");
  // 5A4701 is the AID 0x5A4701, kept in wire order (least significant byte first).
  CHECK(hw.nfc.application == std::array<std::uint8_t, 3>{0x01, 0x47, 0x5A});
  CHECK(hw.nfc.key_number == 1);
  CHECK(hw.nfc.system_identifier == std::vector<std::uint8_t>{0x7A, 0x6F, 0x6E, 0x65, 0x67, 0x61, 0x74, 0x65});
  CHECK(hw.nfc.poll_interval == 50ms);
  CHECK(hw.nfc.hung_timeout == 5s);

  REQUIRE(hw.doors.size() == 2);
  const DoorHardware& front = hw.doors[0];
  CHECK(front.door == "front");
  CHECK(front.reader_in == "pn532_uart:/dev/zonegate/reader-front-in");
  CHECK(front.reader_out.empty());
  CHECK(line_is(front.reader_power, "shared-reader-power"));
  CHECK(line_is(front.strike, "front-strike"));
  CHECK(line_is(front.sensor, "front-contact", true, 30ms));
  CHECK(line_is(front.rex, "front-rex"));
  CHECK(line_is(front.buzzer, "front-buzzer"));
  const DoorHardware& vault = hw.doors[1];
  CHECK(vault.reader_out == "pn532_i2c:/dev/i2c-1");
  CHECK(line_is(vault.reader_power, "shared-reader-power"));
  CHECK(line_is(vault.strike, "vault.strike", true));
  CHECK(line_is(vault.sensor, "vault_contact", false, 0ms));
  CHECK_FALSE(vault.rex);
  CHECK_FALSE(vault.buzzer);
  REQUIRE(hw.gates.size() == 1);
  CHECK(line_is(hw.gates[0].clear, "vault-gate-clear"));
  CHECK(line_is(hw.gates[0].alarm, "vault-gate-alarm"));
  CHECK(line_is(hw.fire, "fire-panel-relay", true, 1000ms));
  REQUIRE(hw.tamper.size() == 2);
  CHECK(hw.tamper[1].first == "reader-housing");
  CHECK(line_is(hw.tamper[1].second, "reader-housing-switch"));
  // The shared reader-power line is one output.
  CHECK(hw.all_output_names() ==
        std::vector<std::string>{"shared-reader-power", "front-strike", "front-buzzer", "vault.strike"});
  CHECK(hw.all_input_names() == std::vector<std::string>{"front-contact", "front-rex", "vault_contact",
                                                         "vault-gate-clear", "vault-gate-alarm", "fire-panel-relay",
                                                         "cabinet-lid-switch", "reader-housing-switch"});

  const config::DaemonSettings& d = *r.daemon;
  CHECK(d.gateway_id == "gw-vault-7");
  CHECK(d.checkpoint_every == 250);
  CHECK(d.checkpoint_interval == 90s);
  CHECK(d.retention == std::chrono::hours{30 * 24});
  CHECK(d.control_socket_group == "zg-operators");
  CHECK(d.log_level == "notice");
}

TEST_CASE("hardware entries come out in policy order whatever order the file lists them", "[config]") {
  const LoadResult r =
      load(site("hardware:\n"
                "  gpio: gpiod\n"
                "  tamper: {housing: h-sw, lid: l-sw}\n"
                "  doors:\n"
                "    inner: {strike: i-strike, sensor: i-contact}\n"
                "    front: {strike: f-strike, sensor: f-contact}\n"
                "  gates: {g1: {alarm: g-alarm, clear: g-clear}}\n"));
  require_ok(r);
  const HardwareConfig& hw = *r.hardware;
  REQUIRE(hw.doors.size() == 2);
  CHECK(hw.doors[0].door == "front");
  CHECK(hw.doors[0].index == 0);
  CHECK(hw.doors[1].door == "inner");
  CHECK(hw.doors[1].index == 1);
  CHECK_FALSE(hw.doors[0].rex);  // with gpiod nothing is made up, not even for request_to_exit
  CHECK_FALSE(hw.fire);          // fire is optional on a real gateway
  REQUIRE(hw.tamper.size() == 2);
  CHECK(hw.tamper[0].first == "lid");
  CHECK(hw.tamper[0].second.name == "l-sw");
  CHECK(hw.tamper[1].first == "housing");
}

TEST_CASE("with gpio: sim the doors and gates the file leaves out get default lines", "[config]") {
  const LoadResult r = load(site(
      "hardware:\n"
      "  doors:\n"
      "    inner: {reader_in: 'pn532_uart:/dev/ttyS3', strike: inner-relay, sensor: inner-reed, rex: inner-button}\n"
      "  fire: panel\n"
      "  tamper: {lid: lid-switch}\n"
      "  lines: {inner-reed: {active_low: true}, front-sensor: {debounce: 100ms}, housing: {active_low: true}}\n"));
  require_ok(r);
  const HardwareConfig& hw = *r.hardware;
  REQUIRE(hw.doors.size() == 2);
  CHECK(line_is(hw.doors[0].strike, "front-strike"));
  CHECK(line_is(hw.doors[0].sensor, "front-sensor", false, 100ms));  // lines: applies to default names too
  CHECK(line_is(hw.doors[0].rex, "front-rex"));
  CHECK(hw.doors[1].reader_in == "pn532_uart:/dev/ttyS3");
  CHECK(line_is(hw.doors[1].strike, "inner-relay"));
  CHECK(line_is(hw.doors[1].sensor, "inner-reed", true));
  CHECK(line_is(hw.doors[1].rex, "inner-button"));  // written, although request_to_exit is false
  CHECK(line_is(hw.gates[0].clear, "g1-clear"));
  CHECK(line_is(hw.fire, "panel"));
  REQUIRE(hw.tamper.size() == 2);
  CHECK(line_is(hw.tamper[0].second, "lid-switch"));
  CHECK(line_is(hw.tamper[1].second, "housing", true));
}

TEST_CASE("sim_reader_id names a simulated reader by door and side", "[config]") {
  CHECK(config::sim_reader_id("lobby", core::Direction::in) == "lobby:in");
  CHECK(config::sim_reader_id("lobby", core::Direction::out) == "lobby:out");
}

TEST_CASE("hardware values at the edges of their ranges", "[config]") {
  SECTION("accepted") {
    const LoadResult r = load(site(
        "hardware:\n"
        "  nfc: {application: FFFFFF, key_number: 13, system_identifier: 000102030405060708090A0B0C0D0E0F1011121314,\n"
        "        poll_interval: 10ms, hung_timeout: 10m}\n"
        "  lines: {front-sensor: {debounce: 0ms}, front-rex: {debounce: 1s}}\n"));
    require_ok(r);
    CHECK(r.hardware->nfc.application == std::array<std::uint8_t, 3>{0xFF, 0xFF, 0xFF});
    CHECK(r.hardware->nfc.key_number == 13);
    CHECK(r.hardware->nfc.system_identifier.size() == 21);
    CHECK(r.hardware->nfc.poll_interval == 10ms);
    CHECK(r.hardware->nfc.hung_timeout == 10min);
    CHECK(r.hardware->doors[0].sensor->debounce == 0ms);
    CHECK(r.hardware->doors[0].rex->debounce == 1s);
  }
  SECTION("an empty system identifier, written or left empty") {
    for (const char* v : {"\"\"", "", "''"}) {
      const LoadResult r = load(site(std::string("hardware: {nfc: {key_number: 0, system_identifier: ") + v + "}}\n"));
      INFO(v);
      require_ok(r);
      CHECK(r.hardware->nfc.system_identifier.empty());
      CHECK(r.hardware->nfc.key_number == 0);
    }
  }
  SECTION("refused") {
    const LoadResult r = load(site(
        "hardware:\n"
        "  nfc: {application: 5A470, key_number: 14, system_identifier: 000102030405060708090A0B0C0D0E0F101112131415,\n"
        "        poll_interval: 9ms, hung_timeout: 11m}\n"
        "  lines: {front-sensor: {debounce: 1001ms}}\n"));
    CHECK_FALSE(r.ok());
    CHECK(r.policy == nullptr);
    CHECK(r.hardware == nullptr);
    CHECK(r.daemon == nullptr);
    CHECK(
        messages(r) ==
        std::vector<std::string>{
            "hardware.nfc.application: invalid application '5A470': a DESFire AID is exactly 6 hex digits, e.g. 5A4701",
            "hardware.nfc.key_number: must be between 0 and 13, got '14'",
            "hardware.nfc.system_identifier: the system_identifier is 22 bytes long (at most 21)",
            "hardware.nfc.poll_interval: duration '9ms' is shorter than 10ms",
            "hardware.nfc.hung_timeout: duration '11m' is longer than 10m",
            "hardware.lines.front-sensor.debounce: duration '1001ms' is longer than 1s",
        });
  }
  SECTION("the unit d belongs to retention only") {
    const LoadResult r = load(site("hardware: {nfc: {hung_timeout: 1d}}\n"));
    CHECK(messages(r) == std::vector<std::string>{"hardware.nfc.hung_timeout: invalid duration '1d': expected a whole "
                                                  "number followed by ms, s, m or h, e.g. 5s"});
  }
}

TEST_CASE("daemon settings and their ranges", "[config]") {
  SECTION("retention in days or hours") {
    const LoadResult r = load(site("daemon: {gateway_id: a, audit: {retention: 36h, checkpoint_every: 1000000}}\n"));
    require_ok(r);
    CHECK(r.daemon->gateway_id == "a");
    CHECK(r.daemon->retention == 36h);
    CHECK(r.daemon->checkpoint_every == 1000000);
    const LoadResult longest = load(site("daemon: {gateway_id: b, audit: {retention: 3650d}}\n"));
    require_ok(longest);
    CHECK(longest.daemon->retention == std::chrono::hours{3650 * 24});
  }
  SECTION("retention is whole hours") {
    const LoadResult r = load(site("daemon: {gateway_id: a, audit: {retention: 1441m}}\n"));
    CHECK(messages(r) ==
          std::vector<std::string>{
              "daemon.audit.retention: the retention must be a whole number of hours, e.g. 400d or 36h"});
  }
  SECTION("a gateway id of 63 characters, and one of 64") {
    const std::string ok(63, 'a');
    require_ok(load(site("daemon: {gateway_id: " + ok + "}\n")));
    const LoadResult r = load(site("daemon: {gateway_id: " + ok + "a}\n"));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "daemon.gateway_id");
  }
  SECTION("every log level") {
    for (const char* level : {"debug", "info", "notice", "warning", "error"}) {
      const LoadResult r = load(site(std::string("daemon: {gateway_id: gw, log_level: ") + level + "}\n"));
      require_ok(r);
      CHECK(r.daemon->log_level == level);
    }
  }
}

TEST_CASE("hardware references are not reported again when the section they name is broken", "[config]") {
  // doors: is a list, so the door ids are unknown; the hardware section must not add
  // "unknown door" or "missing hardware" errors of its own.
  const LoadResult r = load(
      "site: {name: t, time_zone: UTC}\n"
      "zones: {out: {}, in: {parent: out}}\n"
      "doors: [front]\n"
      "roles: {}\n"
      "tamper: {lid: x}\n"
      "hardware:\n"
      "  gpio: gpiod\n"
      "  doors: {front: {strike: s, sensor: c}}\n"
      "  tamper: {lid: lid-switch}\n");
  CHECK(messages(r) == std::vector<std::string>{
                           "doors: expected a map, got a list",
                           "tamper: expected a list of tamper input ids, got a map",
                       });
}

TEST_CASE("a key that looks like the master key is never echoed in an error", "[config]") {
  const std::string key = "00112233445566778899aabbccddeeff";
  const LoadResult r = load(site("hardware: {nfc: {master_key_file: " + key + "}}\n"));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].key == "hardware.nfc.master_key_file");
  CHECK(r.errors[0].to_string().find(key) == std::string::npos);
  // A file name that merely contains hex is fine.
  const LoadResult fine = load(site("hardware: {nfc: {master_key_file: keys/00112233445566778899aabbccddeeff.key}}\n"));
  require_ok(fine);
  CHECK(fine.hardware->nfc.master_key_file == "keys/00112233445566778899aabbccddeeff.key");
}
