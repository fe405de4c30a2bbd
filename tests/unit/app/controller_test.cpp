// SPDX-License-Identifier: Apache-2.0
// Controller tests: the real engine, audit store and credential store, simulated readers and lines,
// the sample site's zones.yaml, a manual clock at a weekday 10:00 in Tokyo.
#include "app/controller.hpp"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "app/control_server.hpp"
#include "app/system_clock.hpp"
#include "config/loader.hpp"
#include "sim/sim_lines.hpp"
#include "sim/sim_reader.hpp"

namespace {

using namespace zonegate;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using adapters::audit::AuditStore;
using adapters::audit::Filter;
using adapters::audit::Row;
using adapters::credentials::CredentialStore;

const core::Instant kStart = core::Instant{std::chrono::sys_days{std::chrono::year{2026} / 12 / 1}} + 1h;  // 10:00 JST

constexpr core::CapabilityMask kAllCaps =
    core::cap_bit(core::Capability::forgive) | core::cap_bit(core::Capability::release) |
    core::cap_bit(core::Capability::lockdown) | core::cap_bit(core::Capability::unlock);

fs::path make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "zg-controller-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  REQUIRE(made != nullptr);
  return fs::path(made);
}

std::string sample_config() { return std::string(ZONEGATE_SOURCE_DIR) + "/zones.yaml"; }

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

/// Runs every ready handler until none is left (timers that are not due are left alone).
void drain(boost::asio::io_context& io) {
  for (int i = 0; i < 1000; ++i) {
    io.restart();
    if (io.poll() == 0) return;
  }
  FAIL("io_context did not become idle");
}

/// Advances the loop in small real-time steps (debounce and retry timers) until `done` holds.
/// Gives up after a generous bound so a broken controller fails the test instead of hanging.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done) {
  for (int i = 0; i < 400; ++i) {  // up to ~4 s; normally a few steps
    drain(io);
    if (done()) return true;
    io.restart();
    io.run_for(10ms);
  }
  drain(io);
  return done();
}

struct Rig {
  fs::path dir = make_temp_dir();
  boost::asio::io_context io{1};
  app::ManualClock clock{kStart};
  config::LoadResult cfg = config::load_policy_file(sample_config());
  std::unique_ptr<AuditStore> audit;
  std::unique_ptr<CredentialStore> creds;
  std::unique_ptr<sim::SimLines> lines;
  std::map<std::string, sim::SimReader*> readers;
  std::unique_ptr<app::Controller> ctl;

  Rig() {
    REQUIRE(cfg.ok());
    adapters::audit::Options ao;
    ao.state_dir = dir;
    ao.gateway_id = "gw-test-01";
    ao.fault_injection = true;
    auto a = AuditStore::open(ao);
    REQUIRE(a.ok());
    audit = std::move(*a);
    auto c = CredentialStore::open(dir / "credentials.db");
    REQUIRE(c.ok());
    creds = std::move(*c);

    std::vector<std::string> names = cfg.hardware->all_input_names();
    for (auto& n : cfg.hardware->all_output_names()) names.push_back(n);
    lines = std::make_unique<sim::SimLines>(io, names);

    std::vector<std::unique_ptr<ports::BadgeReader>> rs;
    for (const auto& d : cfg.hardware->doors) {
      for (core::Direction way : {core::Direction::in, core::Direction::out}) {
        auto r = std::make_unique<sim::SimReader>(io, config::sim_reader_id(d.door, way));
        readers[r->id()] = r.get();
        rs.push_back(std::move(r));
      }
    }
    app::ControllerOptions opts;
    opts.retry_min = 10ms;
    opts.retry_max = 40ms;
    ctl = std::make_unique<app::Controller>(io, clock, *audit, *creds, *lines, std::move(rs), cfg, opts);
    auto err = ctl->start();
    REQUIRE_FALSE(err.has_value());
    drain(io);
  }

  ~Rig() {
    ctl.reset();
    lines.reset();
    creds.reset();
    audit.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  std::string enrol(const std::string& person, const std::vector<std::string>& roles, const std::string& uid,
                    core::CredentialKind kind) {
    REQUIRE(creds->put_person(adapters::credentials::Person{person, person, roles}, clock.now()).ok());
    adapters::credentials::Badge b;
    b.uid = uid;
    b.person = person;
    b.kind = kind;
    REQUIRE(creds->add(b, clock.now()).ok());
    return uid;
  }

  void tap(const std::string& reader, const std::string& uid, core::CredentialKind kind, bool auth_failed = false) {
    REQUIRE(readers.count(reader) == 1);
    readers[reader]->tap(uid, kind, auth_failed);
    drain(io);
  }

  [[nodiscard]] std::string strike(const std::string& door) const {
    for (const auto& d : cfg.hardware->doors) {
      if (d.door == door) return d.strike->name;
    }
    FAIL("no door " << door);
    return {};
  }
  [[nodiscard]] bool strike_active(const std::string& door) const { return lines->level(strike(door)).value_or(false); }

  [[nodiscard]] const config::GateHardware& gate(const std::string& id) const {
    for (const auto& g : cfg.hardware->gates) {
      if (g.gate == id) return g;
    }
    FAIL("no gate " << id);
    throw 0;
  }

  /// A clear pass of the gate: the line goes active (debounced on the loop) and back. Waits until
  /// the engine has taken the pass (nothing left pending at the door).
  void gate_clear(const std::string& gate_id) {
    const config::GateHardware& g = gate(gate_id);
    REQUIRE_FALSE(lines->inject(g.clear.name, true).has_value());
    CHECK(run_until(io, [&] { return ctl->engine().pending().empty(); }));
    REQUIRE_FALSE(lines->inject(g.clear.name, false).has_value());
    io.restart();
    io.run_for(g.clear.debounce + 20ms);
    drain(io);
  }

  std::vector<Row> rows(Filter f) {
    auto r = audit->query(f, adapters::audit::Page{});
    REQUIRE(r.ok());
    return *r;
  }
  std::vector<Row> decisions() {
    Filter f;
    f.kind = "decision";
    return rows(f);
  }
  std::vector<Row> entries(const std::string& kind, const std::string& event) {
    Filter f;
    f.kind = kind;
    f.event = event;
    return rows(f);
  }
  void place(const std::string& person, const std::string& zone) {
    core::GuardCommand g;
    g.action = core::GuardAction::forgive;
    g.person = person;
    g.zone = cfg.policy->zone_index(zone);
    REQUIRE(g.zone.has_value());
    g.note = "test setup";
    (void)ctl->guard(g, app::Operator{"test:setup", kAllCaps});
    drain(io);
  }

  void verify_ok() {
    drain(io);
    auto v = audit->verify();
    INFO(v.message);
    CHECK(v.ok);
  }
};

const Row* last_decision_at(const std::vector<Row>& rows, const std::string& door) {
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (it->door == door) return &*it;
  }
  return nullptr;
}

bool has_alarm(const app::Controller& ctl, core::AlarmKind kind, bool* acknowledged = nullptr) {
  for (const auto& a : ctl.alarms()) {
    if (a.alarm.kind == kind) {
      if (acknowledged) *acknowledged = a.acknowledged;
      return true;
    }
  }
  return false;
}

constexpr const char* kEmpUid = "04A1B2C3";
constexpr const char* kOpUid = "04D0E0F0A1B2C3";

}  // namespace

TEST_CASE("controller: a grant is durable before the strike fires", "[app]") {
  Rig rig;
  rig.enrol("emp-1", {"employee"}, kEmpUid, core::CredentialKind::uid);
  const std::string strike = rig.strike("lobby");

  int activations = 0;
  bool grant_was_durable = false;
  rig.lines->set_observer([&](const std::string& name, bool active) {
    if (name != strike || !active) return;
    ++activations;
    // A separate read-only connection sees only committed (durable) records.
    adapters::audit::Options ro;
    ro.state_dir = rig.dir;
    ro.gateway_id = "gw-test-01";
    ro.read_only = true;
    auto reader = AuditStore::open(ro);
    if (!reader) return;
    Filter f;
    f.kind = "decision";
    f.verdict = "grant";
    f.person = "emp-1";
    auto rows = (*reader)->query(f, adapters::audit::Page{});
    grant_was_durable = rows.ok() && !rows->empty() && rows->back().door == "lobby";
  });

  rig.tap("lobby:in", kEmpUid, core::CredentialKind::uid);
  CHECK(activations == 1);
  CHECK(grant_was_durable);
  CHECK(rig.strike_active("lobby"));
  rig.lines->set_observer(nullptr);
  rig.verify_ok();
}

TEST_CASE("controller: lobby grant unlocks; an unknown badge does not", "[app]") {
  Rig rig;
  rig.enrol("emp-1", {"employee"}, kEmpUid, core::CredentialKind::uid);

  rig.tap("lobby:in", kEmpUid, core::CredentialKind::uid);
  CHECK(rig.strike_active("lobby"));
  auto d = rig.decisions();
  REQUIRE_FALSE(d.empty());
  CHECK(d.back().person == "emp-1");
  CHECK(d.back().verdict == "grant");
  CHECK(d.back().door == "lobby");

  // An unknown badge at the view door: deny, strike untouched.
  rig.tap("view-door:in", "DEADBEEF", core::CredentialKind::uid);
  CHECK_FALSE(rig.strike_active("view-door"));
  d = rig.decisions();
  const Row* last = last_decision_at(d, "view-door");
  REQUIRE(last != nullptr);
  CHECK(last->verdict == "deny");
  CHECK(last->reason == "unknown_badge");
  rig.verify_ok();
}

TEST_CASE("controller: DESFire entry into db-view waits for the gate", "[app]") {
  Rig rig;
  rig.enrol("op-1", {"db-operator"}, kOpUid, core::CredentialKind::desfire);
  rig.place("op-1", "office");

  SECTION("screened entry") {
    rig.tap("view-door:in", kOpUid, core::CredentialKind::desfire);
    CHECK_FALSE(rig.strike_active("view-door"));
    auto st = rig.ctl->status();
    REQUIRE(st["pending"].size() == 1);
    CHECK(st["pending"][0]["door"] == "view-door");
    CHECK(st["pending"][0]["waiting_for"] == "screening");

    rig.gate_clear("view-gate");
    CHECK(rig.strike_active("view-door"));
    const auto all = rig.decisions();
    const Row* last = last_decision_at(all, "view-door");
    REQUIRE(last != nullptr);
    CHECK(last->person == "op-1");
    CHECK(last->verdict == "grant");
  }
  SECTION("a UID read of the badge is a weak credential") {
    rig.tap("view-door:in", kOpUid, core::CredentialKind::uid);
    CHECK_FALSE(rig.strike_active("view-door"));
    const auto all = rig.decisions();
    const Row* last = last_decision_at(all, "view-door");
    REQUIRE(last != nullptr);
    CHECK(last->verdict == "deny");
    CHECK(last->reason == "weak_credential");
  }
  SECTION("failed AES authentication") {
    rig.tap("view-door:in", kOpUid, core::CredentialKind::desfire, true);
    CHECK_FALSE(rig.strike_active("view-door"));
    const auto all = rig.decisions();
    const Row* last = last_decision_at(all, "view-door");
    REQUIRE(last != nullptr);
    CHECK(last->verdict == "deny");
    CHECK(last->reason == "credential_auth_failed");
  }
  rig.verify_ok();
}

TEST_CASE("controller: fails secure while the audit trail cannot be written", "[app]") {
  Rig rig;
  rig.enrol("emp-1", {"employee"}, kEmpUid, core::CredentialKind::uid);
  rig.enrol("op-1", {"db-operator"}, kOpUid, core::CredentialKind::desfire);
  rig.place("op-1", "office");
  rig.tap("view-door:in", kOpUid, core::CredentialKind::desfire);
  REQUIRE(rig.ctl->status()["pending"].size() == 1);
  const auto seq_before = rig.audit->last_seq();

  adapters::audit::Fault fault;
  fault.kind = adapters::audit::Fault::Kind::disk_full;
  fault.sticky = true;
  REQUIRE(rig.audit->inject_fault(fault));

  // The screening completes: the engine grants, the grant cannot be recorded, the strike stays.
  rig.gate_clear("view-gate");
  CHECK_FALSE(rig.strike_active("view-door"));
  auto st = rig.ctl->status();
  CHECK(st["audit"]["degraded"] == true);
  CHECK(rig.ctl->audit_degraded());
  CHECK(has_alarm(*rig.ctl, core::AlarmKind::audit_failure));

  // The lobby is not a DB-zone door: it still opens; its records wait in memory.
  rig.tap("lobby:in", kEmpUid, core::CredentialKind::uid);
  CHECK(rig.strike_active("lobby"));
  CHECK(rig.ctl->backlog_size() > 0);

  // An engine alarm raised during the outage is shown to the guards at once.
  bool tamper_listed = false;
  REQUIRE_FALSE(rig.ctl->sim_tamper("cabinet-lid", true).has_value());
  tamper_listed = run_until(rig.io, [&] { return has_alarm(*rig.ctl, core::AlarmKind::tamper); });
  CHECK(tamper_listed);

  // The disk recovers; the retry timer writes the backlog and records the outage.
  REQUIRE(rig.audit->inject_fault(std::nullopt));
  CHECK(run_until(rig.io, [&] { return !rig.ctl->audit_degraded(); }));
  CHECK(rig.ctl->status()["audit"]["degraded"] == false);
  CHECK(rig.ctl->backlog_size() == 0);
  CHECK(rig.audit->last_seq() > seq_before);

  // The backlog is in the trail: the lobby grant and the unrecorded view-door grant.
  auto d = rig.decisions();
  const Row* lobby = last_decision_at(d, "lobby");
  REQUIRE(lobby != nullptr);
  CHECK(lobby->person == "emp-1");
  CHECK(lobby->verdict == "grant");
  Filter af;
  af.kind = "alarm";
  auto alarms = rig.rows(af);
  bool outage_recorded = false;
  bool tamper_recorded = false;
  for (const auto& a : alarms) {
    if (a.alarm == "audit_failure" && a.detail.find("unavailable for") != std::string::npos) outage_recorded = true;
    if (a.alarm == "tamper") tamper_recorded = true;
  }
  CHECK(outage_recorded);
  CHECK(tamper_recorded);
  rig.verify_ok();
}

TEST_CASE("controller: reload keeps the old policy when the new one is invalid", "[app]") {
  Rig rig;
  const std::string old_hash = rig.ctl->engine().policy().source_hash;
  const fs::path copy = rig.dir / "zones.yaml";
  const std::string text = read_text(sample_config());

  write_text(copy, text + "\nthis-key-does-not-exist: 1\n");
  auto bad = config::load_policy_file(copy.string());
  REQUIRE_FALSE(bad.ok());
  CHECK_FALSE(rig.ctl->reload(bad, copy.string()));
  drain(rig.io);
  CHECK(rig.ctl->engine().policy().source_hash == old_hash);
  CHECK(rig.ctl->status()["policy_sha256"] == old_hash);
  auto rejected = rig.entries("config", "reload_rejected");
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].source == "sha256:" + old_hash);

  std::string changed = text;
  const std::string from = "office: {parent: outside, max_occupancy: 400";
  const auto at = changed.find(from);
  REQUIRE(at != std::string::npos);
  changed.replace(at, from.size(), "office: {parent: outside, max_occupancy: 300");
  write_text(copy, changed);
  auto good = config::load_policy_file(copy.string());
  REQUIRE(good.ok());
  const std::string new_hash = good.policy->source_hash;
  CHECK(new_hash != old_hash);
  CHECK(rig.ctl->reload(good, copy.string()));
  drain(rig.io);
  CHECK(rig.ctl->engine().policy().source_hash == new_hash);
  auto applied = rig.entries("config", "reload");
  REQUIRE(applied.size() == 1);
  CHECK(applied[0].source == "sha256:" + new_hash);
  const auto office = rig.ctl->engine().policy().zone_index("office");
  REQUIRE(office.has_value());
  CHECK(rig.ctl->engine().policy().zones[*office].max_occupancy == 300);
  rig.verify_ok();
}

TEST_CASE("controller: a reader going offline raises an alarm", "[app]") {
  Rig rig;
  rig.readers["view-door:out"]->set_online(false, "unplugged");
  drain(rig.io);
  bool found = false;
  for (const auto& a : rig.ctl->alarms()) {
    if (a.alarm.kind == core::AlarmKind::reader_offline && a.alarm.source == "view-door:out") found = true;
  }
  CHECK(found);
  auto off = rig.entries("reader", "offline");
  REQUIRE(off.size() == 1);
  CHECK(off[0].source == "view-door:out");
  CHECK(off[0].detail == "unplugged");
  Filter af;
  af.kind = "alarm";
  bool recorded = false;
  for (const auto& r : rig.rows(af))
    recorded = recorded || (r.alarm == "reader_offline" && r.source == "view-door:out");
  CHECK(recorded);
  rig.verify_ok();
}

TEST_CASE("controller: guard actions and alarm acknowledgement", "[app]") {
  Rig rig;
  core::GuardCommand g;
  g.action = core::GuardAction::lockdown;
  g.note = "drill";
  auto out = rig.ctl->guard(g, app::Operator{"console:nobody", 0});
  drain(rig.io);
  REQUIRE(out["decisions"].size() == 1);
  CHECK(out["decisions"][0]["verdict"] == "deny");
  CHECK(out["decisions"][0]["reason"] == "no_clearance");
  CHECK(rig.ctl->engine().lockdowns().empty());

  rig.readers["lobby:in"]->set_online(false, "unplugged");
  drain(rig.io);
  REQUIRE_FALSE(rig.ctl->alarms().empty());
  const auto id = rig.ctl->alarms().back().id;
  const app::Operator guard{"console:alice", kAllCaps};
  CHECK_FALSE(rig.ctl->acknowledge(id, guard, "checked the reader").has_value());
  auto second = rig.ctl->acknowledge(id, guard, "again");
  REQUIRE(second.has_value());
  CHECK(second->find("acknowledged") != std::string::npos);
  CHECK(rig.ctl->acknowledge(9999, guard, "").has_value());
  drain(rig.io);

  bool acked = false;
  const auto status = rig.ctl->status();
  for (const auto& a : status["alarms"]) {
    if (a["id"] == id) acked = a["acknowledged"] == true && a["ack_by"] == "console:alice";
  }
  CHECK(acked);
  auto acks = rig.entries("operator", "alarm_ack");
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].person == "console:alice");
  rig.verify_ok();
}

// ---- acknowledgement after the commit (control socket: ack-after-durable) ----------------------

namespace {

/// A read-only view of the trail, as another process sees it: only committed records.
std::optional<Row> committed_row(const fs::path& dir, adapters::audit::Seq seq) {
  adapters::audit::Options ro;
  ro.state_dir = dir;
  ro.gateway_id = "gw-test-01";
  ro.read_only = true;
  auto reader = AuditStore::open(ro);
  if (!reader) return std::nullopt;
  auto rows = (*reader)->query(Filter{}, adapters::audit::Page{100000, 0, std::nullopt});
  if (!rows) return std::nullopt;
  for (const auto& r : *rows) {
    if (r.seq == seq) return r;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("controller: a tap is reported once its decision is on disk, with its seq", "[app]") {
  Rig rig;
  rig.enrol("emp-1", {"employee"}, kEmpUid, core::CredentialKind::uid);
  int calls = 0;
  app::CommitReport got;
  std::optional<Row> on_disk;
  auto err =
      rig.ctl->sim_tap("emp-1", "lobby", core::Direction::in, std::nullopt, false, [&](const app::CommitReport& r) {
        ++calls;
        got = r;
        // At the moment of the report the record is visible to other processes.
        for (std::size_t i = 0; i < r.records.size(); ++i) {
          if (std::holds_alternative<core::Decision>(r.records[i])) on_disk = committed_row(rig.dir, r.seqs[i]);
        }
      });
  REQUIRE_FALSE(err.has_value());
  CHECK(calls == 0);  // nothing is claimed before the loop has committed the batch
  drain(rig.io);
  REQUIRE(calls == 1);
  CHECK(got.observed);
  CHECK(got.durable);
  REQUIRE(got.records.size() == got.seqs.size());
  const core::Decision* decision = nullptr;
  for (const auto& rec : got.records) {
    if (const auto* d = std::get_if<core::Decision>(&rec)) decision = d;
  }
  REQUIRE(decision != nullptr);
  REQUIRE(on_disk.has_value());
  CHECK(on_disk->kind == "decision");
  CHECK(on_disk->person == "emp-1");
  CHECK(on_disk->door == "lobby");
  CHECK(on_disk->verdict == std::string(core::to_string(decision->verdict)));
  CHECK(on_disk->ref == static_cast<std::int64_t>(decision->request));
  CHECK(rig.ctl->waiters() == 0);
  rig.verify_ok();
}

TEST_CASE("controller: concurrent taps each get their own decision and seq", "[app]") {
  Rig rig;
  rig.enrol("emp-1", {"employee"}, kEmpUid, core::CredentialKind::uid);
  std::vector<std::pair<std::string, app::CommitReport>> reports;
  for (const std::string who : {"emp-1", "DEADBEE1", "DEADBEE2", "emp-1"}) {
    REQUIRE_FALSE(rig.ctl
                      ->sim_tap(who, "lobby", core::Direction::in, std::nullopt, false,
                                [&reports, who](const app::CommitReport& r) { reports.emplace_back(who, r); })
                      .has_value());
  }
  drain(rig.io);
  REQUIRE(reports.size() == 4);
  std::vector<adapters::audit::Seq> seqs;
  for (const auto& [who, r] : reports) {
    CHECK(r.durable);
    const core::Decision* d = nullptr;
    adapters::audit::Seq seq = 0;
    for (std::size_t i = 0; i < r.records.size(); ++i) {
      if (const auto* x = std::get_if<core::Decision>(&r.records[i])) {
        d = x;
        seq = r.seqs[i];
      }
    }
    REQUIRE(d != nullptr);
    const auto row = committed_row(rig.dir, seq);
    REQUIRE(row.has_value());
    CHECK(row->badge == d->badge);
    CHECK(row->person == (who == "emp-1" ? "emp-1" : ""));
    seqs.push_back(seq);
  }
  std::sort(seqs.begin(), seqs.end());
  CHECK(std::adjacent_find(seqs.begin(), seqs.end()) == seqs.end());
  rig.verify_ok();
}

TEST_CASE("controller: while the audit trail fails, inputs are reported at once as not durable", "[app]") {
  Rig rig;
  rig.enrol("emp-1", {"employee"}, kEmpUid, core::CredentialKind::uid);
  adapters::audit::Fault fault;
  fault.kind = adapters::audit::Fault::Kind::disk_full;
  fault.sticky = true;
  REQUIRE(rig.audit->inject_fault(fault));
  std::vector<app::CommitReport> reports;
  const auto keep = [&](const app::CommitReport& r) { reports.push_back(r); };
  // The first batch fails and degrades the trail; the second meets a degraded trail.
  REQUIRE_FALSE(rig.ctl->sim_tap("emp-1", "lobby", core::Direction::in, std::nullopt, false, keep).has_value());
  drain(rig.io);
  REQUIRE_FALSE(rig.ctl->sim_tap("emp-1", "lobby", core::Direction::in, std::nullopt, false, keep).has_value());
  drain(rig.io);
  REQUIRE(reports.size() == 2);
  for (const auto& r : reports) {
    CHECK(r.observed);
    CHECK_FALSE(r.durable);
    CHECK_FALSE(r.queued_reason.empty());
    CHECK_FALSE(r.records.empty());
    for (const auto seq : r.seqs) CHECK(seq == 0);
  }
  REQUIRE(rig.audit->inject_fault(std::nullopt));
  CHECK(run_until(rig.io, [&] { return !rig.ctl->audit_degraded(); }));
  rig.verify_ok();
}

TEST_CASE("controller: an input that causes no event is reported as such", "[app]") {
  Rig rig;
  std::vector<app::CommitReport> reports;
  const auto keep = [&](const app::CommitReport& r) { reports.push_back(r); };
  SECTION("a door sensor set to the level it has") {
    REQUIRE_FALSE(rig.ctl->sim_door("lobby", false, keep).has_value());
    CHECK(rig.ctl->waiters() == 1);
    CHECK(run_until(rig.io, [&] { return !reports.empty(); }));
    REQUIRE(reports.size() == 1);
    CHECK_FALSE(reports[0].observed);
  }
  SECTION("a door opened: the sensor event is recorded and reported") {
    REQUIRE_FALSE(rig.ctl->sim_door("lobby", true, keep).has_value());
    CHECK(run_until(rig.io, [&] { return !reports.empty(); }));
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].observed);
    CHECK(reports[0].durable);
    // A door opened without a grant is forced: the alarm is among the records it caused.
    bool forced = false;
    for (std::size_t i = 0; i < reports[0].records.size(); ++i) {
      const auto* a = std::get_if<core::Alarm>(&reports[0].records[i]);
      if (a != nullptr && a->kind == core::AlarmKind::door_forced) {
        forced = true;
        CHECK(reports[0].seqs[i] != 0);
      }
    }
    CHECK(forced);
  }
  SECTION("a reader set offline twice: the second changes nothing") {
    REQUIRE_FALSE(rig.ctl->sim_reader_online("lobby:out", false, keep).has_value());
    drain(rig.io);
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].observed);
    CHECK(reports[0].durable);
    CHECK(reports[0].entries == 1);
    CHECK(reports[0].entry_seqs.size() == 1);
    REQUIRE_FALSE(rig.ctl->sim_reader_online("lobby:out", false, keep).has_value());
    drain(rig.io);
    REQUIRE(reports.size() == 2);
    CHECK_FALSE(reports[1].observed);
  }
  CHECK(rig.ctl->waiters() == 0);
}

TEST_CASE("controller: the list of inputs awaiting their commit is bounded", "[app]") {
  Rig rig;
  int answered = 0;
  // Lines set to the level they have: each waits (for an edge that never comes) until its patience runs out.
  for (std::size_t i = 0; i < app::Controller::kMaxWaiters; ++i) {
    REQUIRE_FALSE(rig.ctl->sim_door("lobby", false, [&](const app::CommitReport&) { ++answered; }).has_value());
  }
  CHECK(rig.ctl->waiters() == app::Controller::kMaxWaiters);
  auto refused = rig.ctl->sim_tap("DEADBEEF", "lobby", core::Direction::in, std::nullopt, false,
                                  [&](const app::CommitReport&) { ++answered; });
  REQUIRE(refused.has_value());
  CHECK(refused->find("too many") != std::string::npos);
  // Without a handler an input is not limited (nobody waits for it).
  CHECK_FALSE(rig.ctl->sim_tap("DEADBEEF", "lobby", core::Direction::in, std::nullopt, false).has_value());
  CHECK(run_until(rig.io, [&] { return rig.ctl->waiters() == 0; }));
  CHECK(answered == static_cast<int>(app::Controller::kMaxWaiters));
}

TEST_CASE("controller: a guard action and an acknowledgement are reported after their commit", "[app]") {
  Rig rig;
  core::GuardCommand g;
  g.action = core::GuardAction::lockdown;
  g.note = "drill";
  std::vector<app::CommitReport> reports;
  const auto keep = [&](const app::CommitReport& r) { reports.push_back(r); };
  auto out = rig.ctl->guard(g, app::Operator{"console:alice", kAllCaps}, keep);
  CHECK(reports.empty());
  drain(rig.io);
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].durable);
  REQUIRE_FALSE(reports[0].records.empty());
  for (const auto seq : reports[0].seqs) CHECK(committed_row(rig.dir, seq).has_value());

  rig.readers["lobby:in"]->set_online(false, "unplugged");
  drain(rig.io);
  REQUIRE_FALSE(rig.ctl->alarms().empty());
  const auto id = rig.ctl->alarms().back().id;
  REQUIRE_FALSE(rig.ctl->acknowledge(id, app::Operator{"console:alice", kAllCaps}, "seen", keep).has_value());
  drain(rig.io);
  REQUIRE(reports.size() == 2);
  CHECK(reports[1].durable);
  REQUIRE(reports[1].entry_seqs.size() == 1);
  const auto row = committed_row(rig.dir, reports[1].entry_seqs[0]);
  REQUIRE(row.has_value());
  CHECK(row->event == "alarm_ack");
  rig.verify_ok();
}

TEST_CASE("controller: an adapter alarm is listed once", "[app]") {
  Rig rig;
  rig.readers["view-door:out"]->set_online(false, "unplugged");
  drain(rig.io);
  const auto n = std::count_if(rig.ctl->alarms().begin(), rig.ctl->alarms().end(), [](const app::ActiveAlarm& a) {
    return a.alarm.kind == core::AlarmKind::reader_offline && a.alarm.source == "view-door:out";
  });
  CHECK(n == 1);
  // The audit failure alarm, raised from inside a flush, too.
  adapters::audit::Fault fault;
  fault.kind = adapters::audit::Fault::Kind::io_error;
  fault.sticky = true;
  REQUIRE(rig.audit->inject_fault(fault));
  rig.tap("lobby:in", "DEADBEEF", core::CredentialKind::uid);
  const auto failures =
      std::count_if(rig.ctl->alarms().begin(), rig.ctl->alarms().end(),
                    [](const app::ActiveAlarm& a) { return a.alarm.kind == core::AlarmKind::audit_failure; });
  CHECK(failures == 1);
  REQUIRE(rig.audit->inject_fault(std::nullopt));
  CHECK(run_until(rig.io, [&] { return !rig.ctl->audit_degraded(); }));
}

TEST_CASE("controller: entries of a batch whose entry commit fails are kept and written later", "[app]") {
  Rig rig;
  drain(rig.io);
  // Records and entries of one batch are two transactions, each ending in one fsync of the WAL:
  // the second fsync (the entries') fails once.
  adapters::audit::Fault fault;
  fault.kind = adapters::audit::Fault::Kind::fsync_error;
  fault.nth = 2;
  REQUIRE(rig.audit->inject_fault(fault));
  rig.ctl->record_operator_action(app::Operator{"test:op", 0}, "entry_under_test", "must not be lost");
  rig.tap("lobby:in", "DEADBEEF", core::CredentialKind::uid);  // same turn: one batch with records and entries
  CHECK(rig.audit->faults_fired() == 1);
  CHECK(run_until(rig.io, [&] { return !rig.ctl->audit_degraded(); }));
  CHECK(rig.entries("operator", "entry_under_test").size() == 1);
  const auto d = rig.decisions();
  const Row* last = last_decision_at(d, "lobby");
  REQUIRE(last != nullptr);
  CHECK(last->reason == "unknown_badge");
  rig.verify_ok();
}

TEST_CASE("controller: status sections", "[app]") {
  Rig rig;
  int calls = 0;
  rig.ctl->add_status_section("upstream", [&] {
    ++calls;
    return nlohmann::json{{"state", "connected"}, {"lag_records", 3}};
  });
  rig.ctl->add_status_section("audit", [] { return nlohmann::json{{"hijacked", true}}; });
  auto st = rig.ctl->status();
  CHECK(calls == 1);
  CHECK(st["upstream"]["state"] == "connected");
  CHECK(st["upstream"]["lag_records"] == 3);
  CHECK_FALSE(st["audit"].contains("hijacked"));  // built-in sections cannot be replaced
  rig.ctl->add_status_section("upstream", [] { return nlohmann::json{{"state", "offline"}}; });
  CHECK(rig.ctl->status()["upstream"]["state"] == "offline");
}

namespace {

/// A blocking client connection to the control socket (the server runs on the test's loop).
int connect_to(const fs::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string p = path.string();
  REQUIRE(p.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

void send_line(int fd, const std::string& line) {
  const std::string out = line + "\n";
  REQUIRE(::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size()));
}

/// Runs the loop until a whole answer line has arrived on fd (bounded by run_until).
std::string read_answer(boost::asio::io_context& io, int fd) {
  std::string in;
  run_until(io, [&] {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
    return in.find('\n') != std::string::npos;
  });
  return in.substr(0, in.find('\n'));
}

}  // namespace

TEST_CASE("control socket: a tap is answered after its commit with decision and seq", "[app]") {
  Rig rig;
  rig.enrol("emp-1", {"employee"}, kEmpUid, core::CredentialKind::uid);
  app::ControlServer server(rig.io, *rig.ctl, rig.dir / "control.sock", "", nullptr);
  const app::Operator op{"unix:test", kAllCaps};
  std::vector<nlohmann::json> answers;
  const auto keep = [&](nlohmann::json a) { answers.push_back(std::move(a)); };
  const nlohmann::json tap{{"cmd", "sim.tap"}, {"who", "emp-1"}, {"door", "lobby"}, {"dir", "in"}};

  server.handle(tap, op, keep);
  CHECK(answers.empty());
  drain(rig.io);
  REQUIRE(answers.size() == 1);
  const auto& a = answers[0];
  INFO(a.dump());
  CHECK(a["ok"] == true);
  CHECK(a["durable"] == true);
  CHECK_FALSE(a.contains("queued"));
  REQUIRE(a["decision"].is_object());
  CHECK(a["decision"]["person"] == "emp-1");
  CHECK(a["decision"]["door"] == "lobby");
  const auto seq = a["decision"]["seq"].get<adapters::audit::Seq>();
  CHECK(a["seq_first"].get<adapters::audit::Seq>() <= seq);
  CHECK(a["seq_last"].get<adapters::audit::Seq>() >= seq);
  const auto row = committed_row(rig.dir, seq);
  REQUIRE(row.has_value());
  CHECK(row->verdict == a["decision"]["verdict"]);
  CHECK(row->reason == a["decision"]["reason"]);
  CHECK(row->ref == a["decision"]["request"].get<std::int64_t>());

  SECTION("degraded: answered at once, not durable, queued") {
    adapters::audit::Fault fault;
    fault.kind = adapters::audit::Fault::Kind::disk_full;
    fault.sticky = true;
    REQUIRE(rig.audit->inject_fault(fault));
    server.handle(tap, op, keep);
    drain(rig.io);
    REQUIRE(answers.size() == 2);
    const auto& q = answers[1];
    INFO(q.dump());
    CHECK(q["ok"] == true);
    CHECK(q["durable"] == false);
    CHECK(q["queued"] == true);
    CHECK_FALSE(q["queued_reason"].get<std::string>().empty());
    CHECK_FALSE(q.contains("seq_first"));
    REQUIRE(q["decision"].is_object());
    CHECK_FALSE(q["decision"].contains("seq"));
    REQUIRE(rig.audit->inject_fault(std::nullopt));
    CHECK(run_until(rig.io, [&] { return !rig.ctl->audit_degraded(); }));
  }
  SECTION("a tap on an offline reader is refused at once") {
    rig.readers["lobby:in"]->set_online(false, "unplugged");
    drain(rig.io);
    server.handle(tap, op, keep);
    REQUIRE(answers.size() == 2);
    CHECK(answers[1]["ok"] == false);
  }
  SECTION("a client that leaves before its answer harms nothing") {
    REQUIRE_FALSE(server.start().has_value());
    const int gone = connect_to(rig.dir / "control.sock");
    send_line(gone, tap.dump());
    ::close(gone);
    const auto before = rig.audit->last_seq();
    CHECK(run_until(rig.io, [&] { return rig.audit->last_seq() > before && rig.ctl->waiters() == 0; }));
    // The server still answers the next client.
    const int next = connect_to(rig.dir / "control.sock");
    send_line(next, tap.dump());
    const auto answer = nlohmann::json::parse(read_answer(rig.io, next), nullptr, false);
    ::close(next);
    INFO(answer.dump());
    REQUIRE(answer.is_object());
    CHECK(answer["durable"] == true);
    CHECK(answer["decision"]["seq"].get<adapters::audit::Seq>() > before);
    server.stop();
  }
  rig.verify_ok();
}
