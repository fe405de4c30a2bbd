// SPDX-License-Identifier: Apache-2.0
// How `zonegate status` and `zonegate sim` print the daemon's answers: the upstream block of the
// status (a section the upstream sync registers) and where a simulated input was recorded.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "zonegate/control_client.hpp"

namespace {

using nlohmann::json;

std::string status_text(const json& status) {
  std::ostringstream out;
  zonegate::cli::print_status(out, status);
  return out.str();
}

std::string sim_text(const json& answer) {
  std::ostringstream out;
  zonegate::cli::print_sim_answer(out, answer);
  return out.str();
}

}  // namespace

TEST_CASE("zonegate status prints the upstream section when the daemon has one", "[app][cli]") {
  const json base{{"site", "s"}, {"gateway", "gw"}, {"audit", {{"last_seq", 7}, {"degraded", false}}}};
  CHECK(status_text(base).find("upstream:") == std::string::npos);

  json with = base;
  with["upstream"] = {{"state", "connected"},
                      {"dsn", "host=central dbname=zg"},
                      {"local_seq", 120},
                      {"central_seq", 100},
                      {"lag_records", 20},
                      {"lag_seconds", 4.5},
                      {"last_error", "timeout"},
                      {"last_pull_version", 3},
                      {"last_upload_at", "2026-11-28T03:00:00Z"}};
  const std::string text = status_text(with);
  CHECK(text.find("\nupstream:\n  state connected\n  lag 20 records, 4.5 s (local seq 120, central seq 100)\n"
                  "  last error: timeout\n") != std::string::npos);

  with["upstream"]["last_error"] = "";
  CHECK(status_text(with).find("  last error: none\n") != std::string::npos);

  with["upstream"] = {{"state", "disabled"}};
  const std::string disabled = status_text(with);
  CHECK(disabled.find("\nupstream:\n  state disabled\n") != std::string::npos);
  CHECK(disabled.find("  lag ") == std::string::npos);
}

TEST_CASE("zonegate sim prints the decision and the seq it was recorded at", "[app][cli]") {
  const json tap{{"ok", true},
                 {"observed", true},
                 {"durable", true},
                 {"seq_first", 41},
                 {"seq_last", 42},
                 {"decision",
                  {{"seq", 41},
                   {"request", 9},
                   {"person", "bob"},
                   {"badge", "04B17733"},
                   {"door", "lobby"},
                   {"dir", "in"},
                   {"verdict", "grant"},
                   {"reason", "ok"}}}};
  CHECK(sim_text(tap) == "decision: bob grant (ok) at lobby in, request 9, seq 41\nrecorded at seq 41..42 (durable)\n");

  json queued = tap;
  queued["durable"] = false;
  queued["queued"] = true;
  queued["queued_reason"] = "disk full";
  queued.erase("seq_first");
  queued.erase("seq_last");
  queued["decision"].erase("seq");
  const std::string q = sim_text(queued);
  CHECK(q.find("durable)") == std::string::npos);
  CHECK(q.find("NOT durable: queued") != std::string::npos);
  CHECK(q.find("(disk full)") != std::string::npos);

  const json nothing{{"ok", true}, {"observed", false}, {"durable", true}, {"decision", nullptr}};
  CHECK(sim_text(nothing).find("no change") == 0);
}
