// SPDX-License-Identifier: Apache-2.0
// The libgpiod adapter's real code, linked against tests/fakes/fake_gpiod.cpp: events travel
// through a pipe per input and are waited on by a real io_context. The debounce and lifecycle
// cases at the end run against both the adapter and sim::SimLines, which must behave alike.
//
// Built only into gpio_tests (which defines ZONEGATE_GPIO_TESTS and links the fake); the unit-test
// glob of tests/CMakeLists.txt also finds this file and gets an empty translation unit.
#ifdef ZONEGATE_GPIO_TESTS

#include "adapters/gpio/gpiod_lines.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "fakes/fake_gpiod.hpp"
#include "sim/sim_lines.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using zonegate::adapters::gpio::GpiodLines;
using zonegate::adapters::gpio::PowerCycler;
using zonegate::ports::InputConfig;
using zonegate::ports::OutputConfig;

// Runs the loop in small steps until `done` holds or `limit` passes; true if it held.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 1000ms) {
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

// Runs what is ready (reads pending edges, starts timers) without waiting.
void poll(boost::asio::io_context& io) {
  io.restart();
  io.poll();
}

// Some cases need a few steps to happen inside one debounce window. On a loaded machine the test
// can be descheduled for longer than that between two steps; such a run proves nothing either way.
// `attempt` builds its own rig, returns false (before checking anything) when its steps did not
// fit, and is repeated until a run fits.
// Those cases use a debounce of kWindow and count a run when its steps took less than kFits.
constexpr std::chrono::milliseconds kWindow{50};
constexpr std::chrono::milliseconds kFits{40};
void until_it_fits(const std::function<bool()>& attempt) {
  for (int i = 0; i < 10; ++i) {
    if (attempt()) return;
  }
  FAIL("the machine never ran the steps within one debounce window");
}

// Records every level a line callback reports, and when.
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

const std::vector<std::string> kLineNames = {"door1-dps", "door1-rex", "door1-strike", "reader1-power", "gate1-alarm"};

// The adapter over the fake: "door1-*" and "reader1-power" on gpiochip0, "gate1-alarm" on gpiochip1.
struct FakeRig {
  boost::asio::io_context io;
  GpiodLines lines{io, "zonegated"};
  FakeRig() {
    fake_gpiod_reset();
    unsigned offset = 0;
    for (const auto& name : kLineNames) {
      if (name == "gate1-alarm") {
        fake_gpiod_add_line("gpiochip1", 7, name);
      } else {
        fake_gpiod_add_line("gpiochip0", offset++, name);
      }
    }
  }
  ~FakeRig() {
    lines.close();
    fake_gpiod_reset();
  }
  FakeRig(const FakeRig&) = delete;
  FakeRig& operator=(const FakeRig&) = delete;
  void wire(const std::string& name, bool high) { fake_gpiod_set_input(name, high ? 1 : 0); }
  [[nodiscard]] bool output_wire(const std::string& name) const { return fake_gpiod_output_value(name) == 1; }
};

// The simulator with the same lines.
struct SimRig {
  boost::asio::io_context io;
  zonegate::sim::SimLines lines{io, kLineNames};
  void wire(const std::string& name, bool high) { REQUIRE_FALSE(lines.inject_raw(name, high)); }
  [[nodiscard]] bool output_wire(const std::string& name) const { return lines.raw_level(name).value_or(false); }
};

}  // namespace

// --- the adapter against the fake ----------------------------------------------------------------

TEST_CASE("gpiod: lines are found by name on any chip and the initial level is reported once", "[gpio]") {
  FakeRig rig;
  rig.wire("gate1-alarm", true);
  Recorder dps;
  Recorder alarm;
  REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, 5ms}, dps.callback()));
  REQUIRE_FALSE(rig.lines.request_input("gate1-alarm", InputConfig{false, 5ms}, alarm.callback()));
  CHECK(fake_gpiod_is_requested("door1-dps"));
  CHECK(fake_gpiod_is_requested("gate1-alarm"));
  CHECK(dps.count() == 0);  // posted, not called from inside request_input
  REQUIRE(run_until(rig.io, [&] { return dps.count() == 1 && alarm.count() == 1; }));
  run_for(rig.io, 20ms);
  CHECK(dps.levels == std::vector<bool>{false});
  CHECK(alarm.levels == std::vector<bool>{true});
}

TEST_CASE("gpiod: an unknown line name is an error naming the line", "[gpio]") {
  FakeRig rig;
  auto err = rig.lines.request_input("door9-dps", InputConfig{}, [](bool) {});
  REQUIRE(err);
  CHECK(*err == "GPIO line 'door9-dps' not found (check gpio-line-names in the device tree)");
  err = rig.lines.request_output("door9-strike", OutputConfig{});
  REQUIRE(err);
  CHECK(*err == "GPIO line 'door9-strike' not found (check gpio-line-names in the device tree)");
  CHECK(fake_gpiod_open_chips() == 0);
}

TEST_CASE("gpiod: a lookup that fails for another reason says why", "[gpio]") {
  FakeRig rig;
  fake_gpiod_fail_next_find(EACCES);
  const auto err = rig.lines.request_input("door1-dps", InputConfig{}, [](bool) {});
  REQUIRE(err);
  CHECK(*err == "GPIO line 'door1-dps' could not be looked up: Permission denied (check access to /dev/gpiochip*)");
}

TEST_CASE("gpiod: active-low inverts inputs", "[gpio]") {
  FakeRig rig;
  rig.wire("door1-rex", true);  // pulled up: button not pressed
  Recorder rex;
  REQUIRE_FALSE(rig.lines.request_input("door1-rex", InputConfig{true, 5ms}, rex.callback()));
  REQUIRE(run_until(rig.io, [&] { return rex.count() == 1; }));
  CHECK(rex.levels.back() == false);
  rig.wire("door1-rex", false);  // pressed: the line goes low
  REQUIRE(run_until(rig.io, [&] { return rex.count() == 2; }));
  CHECK(rex.levels.back() == true);
}

TEST_CASE("gpiod: active-low inverts outputs, including the initial level", "[gpio]") {
  FakeRig rig;
  REQUIRE_FALSE(rig.lines.request_output("door1-strike", OutputConfig{true, false}));
  CHECK(fake_gpiod_output_value("door1-strike") == 1);  // inactive = high
  REQUIRE_FALSE(rig.lines.set("door1-strike", true));
  CHECK(fake_gpiod_output_value("door1-strike") == 0);
  REQUIRE_FALSE(rig.lines.request_output("reader1-power", OutputConfig{false, true}));
  CHECK(fake_gpiod_output_value("reader1-power") == 1);
  REQUIRE_FALSE(rig.lines.set("reader1-power", false));
  CHECK(fake_gpiod_output_value("reader1-power") == 0);
  REQUIRE_FALSE(rig.lines.set("reader1-power", true));
  CHECK(fake_gpiod_output_value("reader1-power") == 1);
}

TEST_CASE("gpiod: an edge reaches the callback through the loop, after the debounce time", "[gpio]") {
  FakeRig rig;
  Recorder dps;
  REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, 10ms}, dps.callback()));
  REQUIRE(run_until(rig.io, [&] { return dps.count() == 1; }));
  const auto edge = Clock::now();
  rig.wire("door1-dps", true);
  REQUIRE(run_until(rig.io, [&] { return dps.count() == 2; }));
  CHECK(dps.levels == std::vector<bool>{false, true});
  CHECK(dps.times.back() - edge >= 10ms);
  rig.wire("door1-dps", false);
  REQUIRE(run_until(rig.io, [&] { return dps.count() == 3; }));
  CHECK(dps.levels.back() == false);
}

TEST_CASE("gpiod: a burst of more edges than one read returns is drained in order", "[gpio]") {
  FakeRig rig;
  Recorder dps;
  REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, 5ms}, dps.callback()));
  REQUIRE(run_until(rig.io, [&] { return dps.count() == 1; }));
  for (int i = 0; i < 301; ++i) rig.wire("door1-dps", i % 2 == 0);  // ends high
  REQUIRE(run_until(rig.io, [&] { return dps.count() == 2; }));
  run_for(rig.io, 20ms);
  CHECK(dps.levels == std::vector<bool>{false, true});
}

TEST_CASE("gpiod: output set is read back on the wire; set on other lines is refused", "[gpio]") {
  FakeRig rig;
  REQUIRE_FALSE(rig.lines.request_output("door1-strike", OutputConfig{}));
  CHECK(fake_gpiod_output_value("door1-strike") == 0);
  REQUIRE_FALSE(rig.lines.set("door1-strike", true));
  CHECK(fake_gpiod_output_value("door1-strike") == 1);
  REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{}, [](bool) {}));
  auto err = rig.lines.set("door1-dps", true);
  REQUIRE(err);
  CHECK(*err == "GPIO line 'door1-dps' is an input and cannot be set");
  err = rig.lines.set("reader1-power", true);
  REQUIRE(err);
  CHECK(*err == "GPIO line 'reader1-power' is not requested as an output");
}

TEST_CASE("gpiod: a failing set is reported with its errno", "[gpio]") {
  FakeRig rig;
  REQUIRE_FALSE(rig.lines.request_output("door1-strike", OutputConfig{}));
  fake_gpiod_fail_next_set(EIO);
  const auto err = rig.lines.set("door1-strike", true);
  REQUIRE(err);
  CHECK(*err == "GPIO line 'door1-strike' could not be set active: Input/output error");
  CHECK(fake_gpiod_output_value("door1-strike") == 0);
}

TEST_CASE("gpiod: a busy line is reported with the line, where it is, and the reason", "[gpio]") {
  FakeRig rig;
  SECTION("request fails with EBUSY") {
    fake_gpiod_fail_next_request(EBUSY);
    const auto err = rig.lines.request_input("door1-rex", InputConfig{}, [](bool) {});
    REQUIRE(err);
    CHECK(*err ==
          "GPIO line 'door1-rex' (gpiochip0 offset 1) could not be requested as an input: "
          "Device or resource busy");
  }
  SECTION("another process holds the line") {
    fake_gpiod_hold_line("gate1-alarm", "gpiomon");
    const auto err = rig.lines.request_output("gate1-alarm", OutputConfig{});
    REQUIRE(err);
    CHECK(*err ==
          "GPIO line 'gate1-alarm' (gpiochip1 offset 7) could not be requested as an output: "
          "Device or resource busy (in use by 'gpiomon')");
  }
  SECTION("this process already holds the line") {
    REQUIRE_FALSE(rig.lines.request_input("door1-rex", InputConfig{}, [](bool) {}));
    const auto err = rig.lines.request_output("door1-rex", OutputConfig{});
    REQUIRE(err);
    CHECK(*err ==
          "GPIO line 'door1-rex' could not be requested as an output: already requested by this process as an input");
  }
  CHECK(fake_gpiod_open_chips() == (fake_gpiod_is_requested("door1-rex") ? 1 : 0));
}

TEST_CASE("gpiod: close() releases every line and stops callbacks, even mid-debounce", "[gpio]") {
  until_it_fits([] {
    FakeRig rig;
    Recorder dps;
    REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, kWindow}, dps.callback()));
    REQUIRE_FALSE(rig.lines.request_output("door1-strike", OutputConfig{}));
    REQUIRE(run_until(rig.io, [&] { return dps.count() == 1; }));
    const auto edge = Clock::now();
    rig.wire("door1-dps", true);
    poll(rig.io);  // the edge is read, the debounce timer runs
    rig.lines.close();
    if (Clock::now() - edge >= kFits) return false;
    CHECK_FALSE(fake_gpiod_is_requested("door1-dps"));
    CHECK_FALSE(fake_gpiod_is_requested("door1-strike"));
    CHECK(fake_gpiod_open_chips() == 0);
    rig.wire("door1-dps", false);
    run_for(rig.io, kWindow + 20ms);
    CHECK(dps.count() == 1);
    CHECK(rig.lines.set("door1-strike", true));
    // The lines can be requested again.
    REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, 5ms}, dps.callback()));
    REQUIRE(run_until(rig.io, [&] { return dps.count() == 2; }));
    return true;
  });
}

TEST_CASE("gpiod: a callback may close the lines", "[gpio]") {
  FakeRig rig;
  int calls = 0;
  REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, 5ms}, [&](bool) {
    ++calls;
    rig.lines.close();
  }));
  REQUIRE(run_until(rig.io, [&] { return calls == 1; }));
  CHECK(fake_gpiod_open_chips() == 0);
  rig.wire("door1-dps", true);
  run_for(rig.io, 20ms);
  CHECK(calls == 1);
}

TEST_CASE("gpiod: an input whose line vanishes reports an error once and goes quiet", "[gpio]") {
  FakeRig rig;
  Recorder dps;
  std::vector<std::string> errors;
  rig.lines.set_error_handler([&](const std::string& e) { errors.push_back(e); });
  REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, 5ms}, dps.callback()));
  REQUIRE(run_until(rig.io, [&] { return dps.count() == 1; }));
  fake_gpiod_remove_line("door1-dps");
  REQUIRE(run_until(rig.io, [&] { return !errors.empty(); }));
  run_for(rig.io, 20ms);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "GPIO line 'door1-dps' stopped delivering events: No such device; its level is unknown");
  CHECK(dps.count() == 1);
  auto err = rig.lines.request_input("door1-dps", InputConfig{}, [](bool) {});
  REQUIRE(err);
  CHECK(err->find("already requested by this process") != std::string::npos);
  rig.lines.close();
  CHECK(fake_gpiod_open_chips() == 0);
  err = rig.lines.request_input("door1-dps", InputConfig{}, [](bool) {});
  REQUIRE(err);
  CHECK(err->find("not found") != std::string::npos);
}

TEST_CASE("gpiod: the constructor refuses an empty consumer label", "[gpio]") {
  boost::asio::io_context io;
  CHECK_THROWS_AS(GpiodLines(io, ""), std::invalid_argument);
}

// --- PowerCycler ------------------------------------------------------------------------------------

TEST_CASE("PowerCycler switches the line off, then on again after the off time", "[gpio][power]") {
  FakeRig rig;
  REQUIRE_FALSE(rig.lines.request_output("reader1-power", OutputConfig{false, true}));
  PowerCycler cycler(rig.io, rig.lines, "reader1-power", 15ms);
  int done = 0;
  std::optional<std::string> result = "not called";
  const auto start = Clock::now();
  REQUIRE_FALSE(cycler.cycle([&](std::optional<std::string> err) {
    ++done;
    result = std::move(err);
  }));
  CHECK(cycler.cycling());
  CHECK(fake_gpiod_output_value("reader1-power") == 0);
  const auto again = cycler.cycle();
  REQUIRE(again);
  CHECK(*again == "power cycle of GPIO line 'reader1-power' is already in progress");
  REQUIRE(run_until(rig.io, [&] { return done == 1; }));
  CHECK(Clock::now() - start >= 15ms);
  CHECK_FALSE(result);
  CHECK_FALSE(cycler.cycling());
  CHECK(fake_gpiod_output_value("reader1-power") == 1);
  run_for(rig.io, 5ms);
  CHECK(done == 1);
}

TEST_CASE("PowerCycler reports a line it cannot switch and restores power when destroyed", "[gpio][power]") {
  FakeRig rig;
  SECTION("switching off fails") {
    PowerCycler cycler(rig.io, rig.lines, "reader1-power");
    const auto err = cycler.cycle([](std::optional<std::string>) { FAIL("on_done must not run"); });
    REQUIRE(err);
    CHECK(*err == "GPIO line 'reader1-power' is not requested as an output");
    CHECK_FALSE(cycler.cycling());
    run_for(rig.io, 5ms);
  }
  SECTION("switching back on fails") {
    REQUIRE_FALSE(rig.lines.request_output("reader1-power", OutputConfig{false, true}));
    PowerCycler cycler(rig.io, rig.lines, "reader1-power", 5ms);
    std::optional<std::string> result;
    bool done = false;
    REQUIRE_FALSE(cycler.cycle([&](std::optional<std::string> err) {
      done = true;
      result = std::move(err);
    }));
    fake_gpiod_fail_next_set(EIO);
    REQUIRE(run_until(rig.io, [&] { return done; }));
    REQUIRE(result);
    CHECK(*result == "GPIO line 'reader1-power' could not be set active: Input/output error");
  }
  SECTION("destroyed mid-cycle") {
    REQUIRE_FALSE(rig.lines.request_output("reader1-power", OutputConfig{false, true}));
    bool done = false;
    {
      PowerCycler cycler(rig.io, rig.lines, "reader1-power", 1000ms);
      REQUIRE_FALSE(cycler.cycle([&](std::optional<std::string>) { done = true; }));
      CHECK(fake_gpiod_output_value("reader1-power") == 0);
    }
    CHECK(fake_gpiod_output_value("reader1-power") == 1);
    run_for(rig.io, 5ms);
    CHECK_FALSE(done);
  }
}

TEST_CASE("PowerCycler works over the simulated lines too", "[gpio][power][sim]") {
  SimRig rig;
  REQUIRE_FALSE(rig.lines.request_output("reader1-power", OutputConfig{false, true}));
  std::vector<bool> seen;
  rig.lines.set_observer([&](const std::string& name, bool active) {
    if (name == "reader1-power") seen.push_back(active);
  });
  PowerCycler cycler(rig.io, rig.lines, "reader1-power", 5ms);
  REQUIRE_FALSE(cycler.cycle());
  REQUIRE(run_until(rig.io, [&] { return !cycler.cycling(); }));
  CHECK(seen == std::vector<bool>{false, true});
}

// --- the same behaviour from the adapter and the simulator -------------------------------------------

TEMPLATE_TEST_CASE("backend: unknown names give the same error", "[gpio][sim]", FakeRig, SimRig) {
  TestType rig;
  const auto err = rig.lines.request_input("nope", InputConfig{}, [](bool) {});
  REQUIRE(err);
  CHECK(*err == "GPIO line 'nope' not found (check gpio-line-names in the device tree)");
  CHECK(rig.lines.request_output("nope", OutputConfig{}) == err);
}

TEMPLATE_TEST_CASE("backend: a 3-edge bounce within the debounce time yields one change", "[gpio][sim]", FakeRig,
                   SimRig) {
  until_it_fits([] {
    TestType rig;
    Recorder dps;
    REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, kWindow}, dps.callback()));
    REQUIRE(run_until(rig.io, [&] { return dps.count() == 1; }));
    // Edges ~4 ms apart: each is read on its own and must push the window back, so the change
    // comes a full window after the last edge, not after the first.
    const auto t1 = Clock::now();
    rig.wire("door1-dps", true);
    run_for(rig.io, 4ms);
    const auto t2 = Clock::now();
    rig.wire("door1-dps", false);
    run_for(rig.io, 4ms);
    const auto t3 = Clock::now();
    rig.wire("door1-dps", true);
    if (t2 - t1 >= kFits || t3 - t2 >= kFits) return false;
    REQUIRE(run_until(rig.io, [&] { return dps.count() == 2; }));
    run_for(rig.io, 30ms);
    CHECK(dps.levels == std::vector<bool>{false, true});
    CHECK(dps.times.back() - t3 >= kWindow);
    return true;
  });
}

TEMPLATE_TEST_CASE("backend: a pulse shorter than the debounce time is not reported", "[gpio][sim]", FakeRig, SimRig) {
  until_it_fits([] {
    TestType rig;
    Recorder rex;
    REQUIRE_FALSE(rig.lines.request_input("door1-rex", InputConfig{false, kWindow}, rex.callback()));
    REQUIRE(run_until(rig.io, [&] { return rex.count() == 1; }));
    const auto rise = Clock::now();
    rig.wire("door1-rex", true);
    run_for(rig.io, 2ms);
    rig.wire("door1-rex", false);
    if (Clock::now() - rise >= kFits) return false;
    run_for(rig.io, kWindow + 30ms);
    CHECK(rex.levels == std::vector<bool>{false});
    return true;
  });
}

TEMPLATE_TEST_CASE("backend: active-low applies to the initial level, edges and outputs", "[gpio][sim]", FakeRig,
                   SimRig) {
  TestType rig;
  rig.wire("door1-rex", true);
  Recorder rex;
  REQUIRE_FALSE(rig.lines.request_input("door1-rex", InputConfig{true, 5ms}, rex.callback()));
  REQUIRE(run_until(rig.io, [&] { return rex.count() == 1; }));
  rig.wire("door1-rex", false);
  REQUIRE(run_until(rig.io, [&] { return rex.count() == 2; }));
  CHECK(rex.levels == std::vector<bool>{false, true});

  REQUIRE_FALSE(rig.lines.request_output("door1-strike", OutputConfig{true, false}));
  CHECK(rig.output_wire("door1-strike"));
  REQUIRE_FALSE(rig.lines.set("door1-strike", true));
  CHECK_FALSE(rig.output_wire("door1-strike"));
}

TEMPLATE_TEST_CASE("backend: close() cancels a pending debounce and later edges", "[gpio][sim]", FakeRig, SimRig) {
  until_it_fits([] {
    TestType rig;
    Recorder dps;
    REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, kWindow}, dps.callback()));
    REQUIRE(run_until(rig.io, [&] { return dps.count() == 1; }));
    const auto edge = Clock::now();
    rig.wire("door1-dps", true);
    poll(rig.io);
    rig.lines.close();
    if (Clock::now() - edge >= kFits) return false;
    rig.wire("door1-dps", false);
    run_for(rig.io, kWindow + 20ms);
    CHECK(dps.count() == 1);
    return true;
  });
}

TEMPLATE_TEST_CASE("backend: a request closed before the loop runs reports nothing", "[gpio][sim]", FakeRig, SimRig) {
  TestType rig;
  Recorder dps;
  REQUIRE_FALSE(rig.lines.request_input("door1-dps", InputConfig{false, 5ms}, dps.callback()));
  rig.lines.close();
  run_for(rig.io, 10ms);
  CHECK(dps.count() == 0);
}

#endif  // ZONEGATE_GPIO_TESTS
