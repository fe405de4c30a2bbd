// SPDX-License-Identifier: Apache-2.0
// The libgpiod adapter against the kernel's gpio-sim: real character device, real v1 uAPI, real
// event fds, active-low applied by the kernel. Built statically by run.sh and run as /init inside a
// QEMU guest (it mounts what it needs and reboots the guest when done); it also runs on any Linux
// host with gpio-sim and configfs, as root.
//
// Lines of the simulated chip (bank0 of gpio-sim device "zonegate"), by offset:
//   0 door1-dps   1 door1-rex   2 door1-strike   3 reader1-power   4 gate1-alarm
// An input is driven by writing "pull-up"/"pull-down" to .../sim_gpioN/pull; an output's level is
// read from .../sim_gpioN/value.
#define CATCH_CONFIG_RUNNER
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/gpio/gpiod_lines.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using zonegate::adapters::gpio::GpiodLines;
using zonegate::adapters::gpio::PowerCycler;
using zonegate::ports::InputConfig;
using zonegate::ports::OutputConfig;

const std::vector<std::string> kLines = {"door1-dps", "door1-rex", "door1-strike", "reader1-power", "gate1-alarm"};
const std::string kConfig = "/sys/kernel/config/gpio-sim/zonegate";
std::string g_line_dir;  // /sys/devices/platform/gpio-sim.N/gpiochipM

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write '" + text + "' to " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  if (!in) throw std::runtime_error("cannot read " + path);
  return text;
}

void make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) throw std::runtime_error("cannot create " + path);
}

void mount_fs(const char* type, const char* target) {
  ::mkdir(target, 0755);
  if (::mount(type, target, type, 0, nullptr) != 0 && errno != EBUSY) {
    std::perror((std::string("mount ") + target).c_str());
  }
}

// Creates the simulated chip through configfs and finds where its lines live in sysfs.
void create_chip() {
  make_dir(kConfig);
  make_dir(kConfig + "/bank0");
  write_file(kConfig + "/bank0/num_lines", "8");
  for (std::size_t i = 0; i < kLines.size(); ++i) {
    const std::string line = kConfig + "/bank0/line" + std::to_string(i);
    make_dir(line);
    write_file(line + "/name", kLines[i]);
  }
  write_file(kConfig + "/live", "1");
  g_line_dir =
      "/sys/devices/platform/" + read_file(kConfig + "/dev_name") + "/" + read_file(kConfig + "/bank0/chip_name");
}

std::string sim_file(unsigned offset, const char* what) {
  return g_line_dir + "/sim_gpio" + std::to_string(offset) + "/" + what;
}

void wire(unsigned offset, bool high) { write_file(sim_file(offset, "pull"), high ? "pull-up" : "pull-down"); }
int output_wire(unsigned offset) { return std::stoi(read_file(sim_file(offset, "value"))); }

bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 3000ms) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    io.restart();
    io.run_for(1ms);
  }
  return true;
}

void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
  io.restart();
  io.run_for(d);
}

struct Recorder {
  std::vector<bool> levels;
  std::vector<Clock::time_point> times;
  zonegate::ports::LineCallback callback() {
    return [this](bool active) {
      levels.push_back(active);
      times.push_back(Clock::now());
    };
  }
  [[nodiscard]] std::size_t count() const { return levels.size(); }
};

struct Rig {
  boost::asio::io_context io;
  GpiodLines lines{io, "zonegated"};
  Rig() {
    for (unsigned i = 0; i < kLines.size(); ++i) wire(i, false);
  }
};

}  // namespace

TEST_CASE("gpio-sim: unknown names are reported by name") {
  Rig rig;
  const auto err = rig.lines.request_input("door9-dps", InputConfig{}, [](bool) {});
  REQUIRE(err);
  CHECK(*err == "GPIO line 'door9-dps' not found (check gpio-line-names in the device tree)");
}

TEST_CASE("gpio-sim: initial level, then a debounced edge") {
  Rig rig;
  wire(4, true);
  Recorder alarm;
  REQUIRE_FALSE(rig.lines.request_input("gate1-alarm", InputConfig{false, 20ms}, alarm.callback()));
  REQUIRE(run_until(rig.io, [&] { return alarm.count() == 1; }));
  CHECK(alarm.levels.back() == true);
  const auto edge = Clock::now();
  wire(4, false);
  REQUIRE(run_until(rig.io, [&] { return alarm.count() == 2; }));
  CHECK(alarm.levels.back() == false);
  CHECK(alarm.times.back() - edge >= 20ms);
}

TEST_CASE("gpio-sim: a 3-edge bounce yields one change, a short pulse none") {
  Rig rig;
  Recorder dps;
  REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, 50ms}, dps.callback()));
  REQUIRE(run_until(rig.io, [&] { return dps.count() == 1; }));
  wire(0, true);
  run_for(rig.io, 1ms);
  wire(0, false);
  run_for(rig.io, 1ms);
  wire(0, true);
  REQUIRE(run_until(rig.io, [&] { return dps.count() == 2; }));
  run_for(rig.io, 80ms);
  CHECK(dps.levels == std::vector<bool>{false, true});
  wire(0, false);
  run_for(rig.io, 2ms);
  wire(0, true);
  run_for(rig.io, 120ms);
  CHECK(dps.levels == std::vector<bool>{false, true});
}

TEST_CASE("gpio-sim: the kernel applies active-low to inputs and outputs") {
  Rig rig;
  wire(1, true);
  Recorder rex;
  REQUIRE_FALSE(rig.lines.request_input("door1-rex", InputConfig{true, 10ms}, rex.callback()));
  REQUIRE(run_until(rig.io, [&] { return rex.count() == 1; }));
  wire(1, false);
  REQUIRE(run_until(rig.io, [&] { return rex.count() == 2; }));
  CHECK(rex.levels == std::vector<bool>{false, true});

  REQUIRE_FALSE(rig.lines.request_output("door1-strike", OutputConfig{true, false}));
  CHECK(output_wire(2) == 1);
  REQUIRE_FALSE(rig.lines.set("door1-strike", true));
  CHECK(output_wire(2) == 0);
}

TEST_CASE("gpio-sim: a line held by another consumer is busy; close() frees it") {
  Rig rig;
  REQUIRE_FALSE(rig.lines.request_output("door1-strike", OutputConfig{}));
  boost::asio::io_context other_io;
  GpiodLines other(other_io, "other-daemon");
  const auto err = other.request_output("door1-strike", OutputConfig{});
  REQUIRE(err);
  CHECK(err->find("GPIO line 'door1-strike' (") == 0);
  CHECK(err->find("offset 2) could not be requested as an output: Device or resource busy (in use by 'zonegated')") !=
        std::string::npos);
  rig.lines.close();
  CHECK_FALSE(other.request_output("door1-strike", OutputConfig{}));
}

TEST_CASE("gpio-sim: close() stops callbacks") {
  Rig rig;
  Recorder dps;
  REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, 20ms}, dps.callback()));
  REQUIRE(run_until(rig.io, [&] { return dps.count() == 1; }));
  wire(0, true);
  run_for(rig.io, 2ms);
  rig.lines.close();
  run_for(rig.io, 60ms);
  CHECK(dps.count() == 1);
}

TEST_CASE("gpio-sim: PowerCycler drives the real line off and on") {
  Rig rig;
  REQUIRE_FALSE(rig.lines.request_output("reader1-power", OutputConfig{false, true}));
  CHECK(output_wire(3) == 1);
  PowerCycler cycler(rig.io, rig.lines, "reader1-power", 30ms);
  bool done = false;
  REQUIRE_FALSE(cycler.cycle([&](std::optional<std::string> e) { done = !e; }));
  CHECK(output_wire(3) == 0);
  REQUIRE(run_until(rig.io, [&] { return done; }));
  CHECK(output_wire(3) == 1);
}

int main(int argc, char* argv[]) {
  const bool as_init = ::getpid() == 1;
  if (as_init) {
    mount_fs("devtmpfs", "/dev");
    mount_fs("proc", "/proc");
    mount_fs("sysfs", "/sys");
    mount_fs("configfs", "/sys/kernel/config");
  }
  int failed = 1;
  try {
    create_chip();
    std::cout << "gpio-sim chip at " << g_line_dir << std::endl;
    failed = Catch::Session().run(argc, argv);
  } catch (const std::exception& e) {
    std::cout << "gpio-sim setup failed: " << e.what() << std::endl;
  }
  std::cout << "GPIO-SIM-RESULT: " << (failed == 0 ? "PASS" : "FAIL") << std::endl;
  if (as_init) {
    ::sync();
    ::reboot(RB_AUTOBOOT);  // QEMU runs with -no-reboot: this ends it
  }
  return failed == 0 ? 0 : 1;
}
