// SPDX-License-Identifier: Apache-2.0
// Option parsing and the control-socket requests of `zonegate sim|guard`, and the status printer.
#include "zonegate/cli_args.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "zonegate/control_client.hpp"

namespace cli = zonegate::cli;
using nlohmann::json;

TEST_CASE("parse_args: values, flags, positionals and errors", "[cli][args]") {
  std::string error;
  auto p = cli::parse_args({"a", "--x", "1", "--y=2", "--f", "b"}, {"--x", "--y"}, {"--f"}, &error);
  REQUIRE(p);
  CHECK(p->positional == std::vector<std::string>{"a", "b"});
  CHECK(p->get("--x") == "1");
  CHECK(p->get("--y") == "2");
  CHECK(p->has("--f"));
  CHECK_FALSE(p->get("--z"));

  CHECK_FALSE(cli::parse_args({"--x"}, {"--x"}, {}, &error));
  CHECK(error == "option --x needs a value");
  CHECK_FALSE(cli::parse_args({"--x", "1", "--x", "2"}, {"--x"}, {}, &error));
  CHECK(error == "option --x given twice");
  CHECK_FALSE(cli::parse_args({"--nope"}, {"--x"}, {}, &error));
  CHECK(error == "unknown option --nope");
  CHECK_FALSE(cli::parse_args({"--f=1"}, {}, {"--f"}, &error));

  auto dashed = cli::parse_args({"--", "--x"}, {"--x"}, {}, &error);
  REQUIRE(dashed);
  CHECK(dashed->positional == std::vector<std::string>{"--x"});
}

TEST_CASE("parse_count and split_commas", "[cli][args]") {
  CHECK(cli::parse_count("20", 100) == 20UL);
  CHECK_FALSE(cli::parse_count("0", 100));
  CHECK_FALSE(cli::parse_count("101", 100));
  CHECK_FALSE(cli::parse_count("1x", 100));
  CHECK_FALSE(cli::parse_count("", 100));
  CHECK_FALSE(cli::parse_count("-1", 100));
  CHECK(cli::split_commas("a,b,,c") == std::vector<std::string>{"a", "b", "c"});
  CHECK(cli::split_commas("").empty());
}

TEST_CASE("sim requests", "[cli][control]") {
  std::string error;
  auto tap = cli::build_sim_request({"tap", "alice", "lobby", "in", "--kind", "desfire", "--auth-failed"}, &error);
  REQUIRE(tap);
  CHECK(*tap == json{{"cmd", "sim.tap"},
                     {"who", "alice"},
                     {"door", "lobby"},
                     {"dir", "in"},
                     {"kind", "desfire"},
                     {"auth_failed", true}});
  CHECK(*cli::build_sim_request({"gate", "view-gate", "alarm"}, &error) ==
        json{{"cmd", "sim.gate"}, {"gate", "view-gate"}, {"signal", "alarm"}});
  CHECK(*cli::build_sim_request({"door", "lobby", "open"}, &error) ==
        json{{"cmd", "sim.door"}, {"door", "lobby"}, {"state", "open"}});
  CHECK(*cli::build_sim_request({"rex", "lobby"}, &error) == json{{"cmd", "sim.rex"}, {"door", "lobby"}});
  CHECK(*cli::build_sim_request({"fire", "off"}, &error) == json{{"cmd", "sim.fire"}, {"on", false}});
  CHECK(*cli::build_sim_request({"tamper", "cabinet-lid", "on"}, &error) ==
        json{{"cmd", "sim.tamper"}, {"id", "cabinet-lid"}, {"on", true}});
  CHECK(*cli::build_sim_request({"reader", "lobby:in", "offline"}, &error) ==
        json{{"cmd", "sim.reader"}, {"reader", "lobby:in"}, {"online", false}});

  CHECK_FALSE(cli::build_sim_request({"tap", "alice", "lobby", "up"}, &error));
  CHECK(error.find("in or out") != std::string::npos);
  CHECK_FALSE(cli::build_sim_request({"tap", "alice", "lobby", "in", "--kind", "nfc"}, &error));
  CHECK_FALSE(cli::build_sim_request({"fire", "maybe"}, &error));
  CHECK_FALSE(cli::build_sim_request({"door", "lobby"}, &error));
  CHECK_FALSE(cli::build_sim_request({"teleport"}, &error));
  CHECK_FALSE(cli::build_sim_request({}, &error));
}

TEST_CASE("guard requests", "[cli][control]") {
  std::string error;
  CHECK(*cli::build_guard_request({"ack", "7", "--note", "seen"}, &error) ==
        json{{"cmd", "ack"}, {"id", 7}, {"note", "seen"}});
  CHECK(*cli::build_guard_request({"release", "--door", "view-door"}, &error) ==
        json{{"cmd", "guard"}, {"action", "release"}, {"door", "view-door"}});
  CHECK(*cli::build_guard_request({"forgive", "--person", "bob", "--zone", "office"}, &error) ==
        json{{"cmd", "guard"}, {"action", "forgive"}, {"person", "bob"}, {"zone", "office"}});
  CHECK(*cli::build_guard_request({"lockdown"}, &error) == json{{"cmd", "guard"}, {"action", "lockdown"}});
  CHECK(*cli::build_guard_request({"lift", "--zone", "db-view", "--note", "over"}, &error) ==
        json{{"cmd", "guard"}, {"action", "lift"}, {"zone", "db-view"}, {"note", "over"}});
  CHECK(*cli::build_guard_request({"unlock", "--door", "lobby", "--note", "delivery"}, &error) ==
        json{{"cmd", "guard"}, {"action", "unlock"}, {"door", "lobby"}, {"note", "delivery"}});

  CHECK_FALSE(cli::build_guard_request({"ack", "x"}, &error));
  CHECK_FALSE(cli::build_guard_request({"ack", "0"}, &error));
  CHECK_FALSE(cli::build_guard_request({"release"}, &error));
  CHECK_FALSE(cli::build_guard_request({"release", "--person", "a", "--door", "b"}, &error));
  CHECK_FALSE(cli::build_guard_request({"forgive"}, &error));
  CHECK_FALSE(cli::build_guard_request({"unlock", "--door", "lobby"}, &error));
  CHECK(error.find("mandatory") != std::string::npos);
  CHECK_FALSE(cli::build_guard_request({"unlock", "--door", "lobby", "--note", ""}, &error));
  CHECK_FALSE(cli::build_guard_request({"lockdown", "--door", "lobby"}, &error));
  CHECK_FALSE(cli::build_guard_request({"explode"}, &error));
}

TEST_CASE("control_request: unreachable daemon", "[cli][control]") {
  std::string error;
  CHECK_FALSE(cli::control_request("/nonexistent-zonegate-dir/control.sock", json{{"cmd", "status"}}, &error));
  CHECK(error.rfind("cannot reach zonegated at /nonexistent-zonegate-dir/control.sock: ", 0) == 0);
  CHECK(error.find("(is the daemon running? are you root or in its group?)") != std::string::npos);
}

TEST_CASE("print_status and print_guard_answer", "[cli][control]") {
  const json status = json::parse(R"({
    "site": "acme", "gateway": "gw-1", "policy_sha256": "abc", "now": "2026-01-05T00:00:00Z", "uptime_s": 5,
    "fire": false,
    "doors": [{"id": "lobby", "unlocked": false, "open": true, "forced": true, "held_prealarm": false,
               "held_alarm": false, "fire_release": false}],
    "zones": [{"id": "office", "occupancy": 2, "max": 10, "lockdown": true, "people": ["alice", "bob"]}],
    "unknown_locations": ["carol"],
    "pending": [{"door": "ops-door", "dir": "in", "waiting_for": "second_person", "people": ["alice"],
                 "deadline": "2026-01-05T00:00:30Z"}],
    "held": [{"person": "dave", "door": "view-door", "since": "2026-01-05T00:00:01Z"}],
    "alarms": [{"id": 3, "kind": "door_forced", "severity": "critical", "source": "lobby", "person": "",
                "detail": "", "at": "2026-01-05T00:00:02Z", "acknowledged": true, "ack_by": "unix:guard",
                "ack_note": "ok"}],
    "readers": [{"id": "lobby:in", "online": false}],
    "audit": {"last_seq": 42, "degraded": false, "reason": "", "backlog": 0}})");
  std::ostringstream out;
  cli::print_status(out, status);
  const std::string s = out.str();
  CHECK(s.find("site acme, gateway gw-1, policy sha256 abc") != std::string::npos);
  CHECK(s.find("audit: last seq 42, ok") != std::string::npos);
  CHECK(s.find("lobby           locked    open FORCED") != std::string::npos);
  CHECK(s.find("office          2/10  LOCKDOWN  alice, bob") != std::string::npos);
  CHECK(s.find("unknown location: carol") != std::string::npos);
  CHECK(s.find("ops-door in: alice waiting for second_person") != std::string::npos);
  CHECK(s.find("dave at view-door") != std::string::npos);
  CHECK(s.find("#3 door_forced [critical] source lobby at 2026-01-05T00:00:02Z acknowledged by unix:guard (ok)") !=
        std::string::npos);
  CHECK(s.find("lobby:in                OFFLINE") != std::string::npos);

  std::ostringstream g;
  cli::print_guard_answer(g, json{{"decisions", {{{"person", "bob"}, {"verdict", "grant"}, {"reason", "ok"}}}},
                                  {"notes", {{{"kind", "lockdown"}, {"subject", "db-view"}, {"detail", ""}}}}});
  CHECK(g.str() == "decision: bob grant (ok)\nnote: lockdown db-view\n");
  std::ostringstream empty;
  cli::print_guard_answer(empty, json::object());
  CHECK(empty.str() == "ok\n");
}
