// SPDX-License-Identifier: Apache-2.0
// sim::SimLines: the simulated GPIO lines. Debounce and lifecycle behaviour shared with the libgpiod
// adapter is checked against both in tests/unit/adapters/gpio/gpiod_lines_test.cpp; this file covers
// what only the simulator has (injection, recorded outputs, faults).
//
// Built only into gpio_tests (which defines ZONEGATE_GPIO_TESTS); the unit-test glob of
// tests/CMakeLists.txt also finds this file and gets an empty translation unit.
#ifdef ZONEGATE_GPIO_TESTS

#include "sim/sim_lines.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using zonegate::ports::InputConfig;
using zonegate::ports::OutputConfig;
using zonegate::sim::SimLines;

bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 1000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.restart();
    io.run_for(1ms);
  }
  return true;
}

void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
  io.restart();
  io.run_for(d);
}

struct Sim {
  boost::asio::io_context io;
  SimLines lines{io, {"door1-dps", "door1-rex", "door1-strike", "door1-buzzer"}};
  std::vector<bool> seen;
  zonegate::ports::LineCallback record() {
    return [this](bool active) { seen.push_back(active); };
  }
};

}  // namespace

TEST_CASE("sim: the line set is fixed at construction", "[sim]") {
  boost::asio::io_context io;
  CHECK_THROWS_AS(SimLines(io, {"a", "b", "a"}), std::invalid_argument);
  CHECK_THROWS_AS(SimLines(io, {""}), std::invalid_argument);
  SimLines lines(io, {"b", "a"});
  CHECK(lines.names() == std::vector<std::string>{"a", "b"});
  const auto err = lines.inject("c", true);
  REQUIRE(err);
  CHECK(*err == "GPIO line 'c' not found (check gpio-line-names in the device tree)");
  CHECK_FALSE(lines.raw_level("c"));
}

TEST_CASE("sim: injected levels reach the callback through the loop, debounced", "[sim]") {
  Sim sim;
  REQUIRE_FALSE(sim.lines.inject("door1-dps", true));  // before the request: becomes the initial level
  REQUIRE_FALSE(sim.lines.request_input("door1-dps", InputConfig{false, 5ms}, sim.record()));
  CHECK(sim.lines.requested("door1-dps"));
  CHECK(sim.seen.empty());
  REQUIRE(run_until(sim.io, [&] { return sim.seen.size() == 1; }));
  CHECK(sim.seen == std::vector<bool>{true});
  REQUIRE_FALSE(sim.lines.inject("door1-dps", false));
  CHECK(sim.seen.size() == 1);  // never synchronously from inject()
  REQUIRE(run_until(sim.io, [&] { return sim.seen.size() == 2; }));
  CHECK(sim.seen.back() == false);
  REQUIRE_FALSE(sim.lines.inject("door1-dps", false));  // no edge, nothing to report
  run_for(sim.io, 15ms);
  CHECK(sim.seen.size() == 2);
}

TEST_CASE("sim: inject() is logical, inject_raw() is the wire", "[sim]") {
  Sim sim;
  REQUIRE_FALSE(sim.lines.inject_raw("door1-rex", true));
  REQUIRE_FALSE(sim.lines.request_input("door1-rex", InputConfig{true, 5ms}, sim.record()));
  REQUIRE(run_until(sim.io, [&] { return sim.seen.size() == 1; }));
  CHECK(sim.seen.back() == false);
  REQUIRE_FALSE(sim.lines.inject("door1-rex", true));  // pressed
  CHECK(sim.lines.raw_level("door1-rex") == false);
  REQUIRE(run_until(sim.io, [&] { return sim.seen.size() == 2; }));
  CHECK(sim.seen.back() == true);
}

TEST_CASE("sim: outputs are recorded and every set is observed", "[sim]") {
  Sim sim;
  std::vector<std::pair<std::string, bool>> sets;
  sim.lines.set_observer([&](const std::string& name, bool active) { sets.emplace_back(name, active); });
  CHECK_FALSE(sim.lines.level("door1-strike"));
  REQUIRE_FALSE(sim.lines.request_output("door1-strike", OutputConfig{true, false}));
  CHECK(sim.lines.level("door1-strike") == false);
  CHECK(sim.lines.raw_level("door1-strike") == true);
  REQUIRE_FALSE(sim.lines.set("door1-strike", true));
  REQUIRE_FALSE(sim.lines.set("door1-strike", true));
  CHECK(sim.lines.level("door1-strike") == true);
  CHECK(sim.lines.raw_level("door1-strike") == false);
  REQUIRE_FALSE(sim.lines.set("door1-strike", false));
  CHECK(sets == std::vector<std::pair<std::string, bool>>{
                    {"door1-strike", false}, {"door1-strike", true}, {"door1-strike", true}, {"door1-strike", false}});
  const auto err = sim.lines.inject("door1-strike", true);
  REQUIRE(err);
  CHECK(*err == "GPIO line 'door1-strike' is an output; it cannot be driven from outside");
}

TEST_CASE("sim: requests and sets are refused like the hardware adapter refuses them", "[sim]") {
  Sim sim;
  REQUIRE_FALSE(sim.lines.request_input("door1-dps", InputConfig{}, [](bool) {}));
  auto err = sim.lines.request_output("door1-dps", OutputConfig{});
  REQUIRE(err);
  CHECK(*err ==
        "GPIO line 'door1-dps' could not be requested as an output: already requested by this process as an input");
  err = sim.lines.set("door1-dps", true);
  REQUIRE(err);
  CHECK(*err == "GPIO line 'door1-dps' is an input and cannot be set");
  err = sim.lines.set("door1-buzzer", true);
  REQUIRE(err);
  CHECK(*err == "GPIO line 'door1-buzzer' is not requested as an output");
}

TEST_CASE("sim: a set can be made to fail", "[sim]") {
  Sim sim;
  REQUIRE_FALSE(sim.lines.request_output("door1-strike", OutputConfig{}));
  sim.lines.fail_sets("door1-strike");
  const auto err = sim.lines.set("door1-strike", true);
  REQUIRE(err);
  CHECK(*err == "GPIO line 'door1-strike' could not be set active: Input/output error (simulated fault)");
  CHECK(sim.lines.level("door1-strike") == false);
  sim.lines.fail_sets("door1-strike", false);
  REQUIRE_FALSE(sim.lines.set("door1-strike", true));
  CHECK(sim.lines.level("door1-strike") == true);
}

TEST_CASE("sim: a line can disappear and come back", "[sim]") {
  Sim sim;
  std::vector<std::string> errors;
  sim.lines.set_error_handler([&](const std::string& e) { errors.push_back(e); });
  REQUIRE_FALSE(sim.lines.request_input("door1-dps", InputConfig{false, 5ms}, sim.record()));
  REQUIRE_FALSE(sim.lines.request_output("door1-strike", OutputConfig{}));
  REQUIRE(run_until(sim.io, [&] { return sim.seen.size() == 1; }));
  REQUIRE_FALSE(sim.lines.inject("door1-dps", true));  // an edge in flight when the line goes
  sim.lines.remove_line("door1-dps");
  sim.lines.remove_line("door1-strike");
  CHECK(errors.empty());  // posted
  REQUIRE(run_until(sim.io, [&] { return errors.size() == 1; }));
  run_for(sim.io, 15ms);
  CHECK(errors == std::vector<std::string>{
                      "GPIO line 'door1-dps' stopped delivering events: No such device; its level is unknown"});
  CHECK(sim.seen.size() == 1);
  auto err = sim.lines.set("door1-strike", true);
  REQUIRE(err);
  CHECK(*err == "GPIO line 'door1-strike' could not be set active: No such device");
  err = sim.lines.inject("door1-dps", false);
  REQUIRE(err);
  CHECK(err->find("not found") != std::string::npos);

  sim.lines.restore_line("door1-dps");
  sim.lines.restore_line("door1-strike");
  CHECK(sim.lines.set("door1-strike", true));  // the old request stays stale until close()
  sim.lines.close();
  REQUIRE_FALSE(sim.lines.request_input("door1-dps", InputConfig{false, 5ms}, sim.record()));
  REQUIRE_FALSE(sim.lines.request_output("door1-strike", OutputConfig{}));
  REQUIRE_FALSE(sim.lines.set("door1-strike", true));
  REQUIRE(run_until(sim.io, [&] { return sim.seen.size() == 2; }));
  CHECK(sim.seen.back() == true);  // the wire kept the level injected before it vanished
}

TEST_CASE("sim: close() releases every line", "[sim]") {
  Sim sim;
  REQUIRE_FALSE(sim.lines.request_input("door1-dps", InputConfig{}, [](bool) {}));
  REQUIRE_FALSE(sim.lines.request_output("door1-strike", OutputConfig{}));
  sim.lines.close();
  CHECK_FALSE(sim.lines.requested("door1-dps"));
  CHECK_FALSE(sim.lines.requested("door1-strike"));
  CHECK(sim.lines.set("door1-strike", true));
}

TEST_CASE("sim: no error is delivered after the lines are destroyed", "[sim]") {
  boost::asio::io_context io;
  bool called = false;
  {
    SimLines lines(io, {"x"});
    lines.set_error_handler([&](const std::string&) { called = true; });
    REQUIRE_FALSE(lines.request_input("x", InputConfig{}, [](bool) {}));
    lines.remove_line("x");
  }
  run_for(io, 5ms);
  CHECK_FALSE(called);
}

#endif  // ZONEGATE_GPIO_TESTS
