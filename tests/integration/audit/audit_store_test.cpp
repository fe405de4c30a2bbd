// SPDX-License-Identifier: Apache-2.0
// The audit store's normal operation: the chain, group commit, checkpoints, queries, exports,
// retention, and the fail-secure error reporting under injected write failures.
#include "adapters/audit/audit_store.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <map>
#include <sstream>

#include "adapters/audit/audit_codec.hpp"
#include "core/events.hpp"
#include "test_support.hpp"

namespace zonegate::adapters::audit {
namespace {

using test::day;
using test::TempDir;

Options options_for(const TempDir& dir) {
  Options o;
  o.state_dir = dir.path() / "state";
  o.gateway_id = "gw-test-1";
  o.checkpoint_every_records = 10;
  o.checkpoint_every = std::chrono::seconds(60);
  return o;
}

std::unique_ptr<AuditStore> open_store(const Options& o) {
  auto s = AuditStore::open(o);
  INFO((s ? std::string("ok") : s.error().message));
  REQUIRE(s.ok());
  return std::move(s.value());
}

core::Decision decision(core::Instant t, std::string person, core::DoorIdx door, core::Verdict v, core::Reason r,
                        core::Direction dir = core::Direction::in) {
  core::Decision d;
  d.at = t;
  d.request = 7;
  d.person = std::move(person);
  d.badge = "04A1B2C3";
  d.door = door;
  d.dir = dir;
  d.verdict = v;
  d.reason = r;
  return d;
}

Entry entry(core::Instant t, std::string event, std::string person = {}, std::string detail = {}) {
  Entry e;
  e.at = t;
  e.kind = EntryKind::operator_action;
  e.event = std::move(event);
  e.person = std::move(person);
  e.detail = std::move(detail);
  return e;
}

std::vector<Row> all_rows(AuditStore& s) {
  auto r = s.query(Filter{}, Page{100000, 0, std::nullopt});
  REQUIRE(r.ok());
  return r.value();
}

TEST_CASE("records get consecutive seqs, map the engine's fields, and verify", "[audit]") {
  TempDir dir;
  const auto policy = test::sample_policy();
  auto store = open_store(options_for(dir));
  CHECK(store->last_seq() == 0);

  std::vector<core::Record> batch;
  batch.emplace_back(decision(day(0, 1000), "alice", 1, core::Verdict::grant, core::Reason::ok));
  batch.emplace_back(
      core::Alarm{day(0, 2000), core::AlarmKind::door_forced, core::Severity::critical, "lobby", "", ""});
  batch.emplace_back(core::Note{day(0, 3000), "moved", "db-view", "alice", ""});
  batch.emplace_back(core::Note{day(0, 4000), "gate_clear", "view-gate", "", ""});
  batch.emplace_back(core::Note{day(0, 5000), "guard_lift", "bob", "carol", "all clear"});
  auto seq = store->append(batch, policy);
  REQUIRE(seq.ok());
  CHECK(*seq == 5);

  std::vector<Entry> entries{entry(day(0, 6000), "login", "carol"), entry(day(0, 7000), "badge_add", "carol", "x")};
  entries.push_back(Entry{day(0, 8000), EntryKind::config, "reload", "", "", "", "", "sha256:abcd", "zones.yaml"});
  seq = store->append_entries(entries);
  REQUIRE(seq.ok());
  CHECK(*seq == 8);
  CHECK(store->last_seq() == 8);

  const auto rows = all_rows(*store);
  REQUIRE(rows.size() == 8);
  for (std::size_t i = 0; i < rows.size(); ++i) CHECK(rows[i].seq == i + 1);
  CHECK(rows[0].prev_hash == Hash{});  // genesis: 32 zero bytes
  for (std::size_t i = 1; i < rows.size(); ++i) CHECK(rows[i].prev_hash == rows[i - 1].hash);
  CHECK(store->last_hash() == rows.back().hash);

  const Row& d = rows[0];
  CHECK(d.kind == "decision");
  CHECK(d.person == "alice");
  CHECK(d.badge == "04A1B2C3");
  CHECK(d.door == "view-door");
  CHECK(d.zone == "db-view");  // the zone being entered
  CHECK(d.direction == "in");
  CHECK(d.verdict == "grant");
  CHECK(d.reason == "ok");
  CHECK(d.ref == 7);
  CHECK(rows[1].kind == "alarm");
  CHECK(rows[1].alarm == "door_forced");
  CHECK(rows[1].severity == "critical");
  CHECK(rows[1].source == "lobby");
  CHECK(rows[1].door == "lobby");
  CHECK(rows[2].event == "moved");
  CHECK(rows[2].zone == "db-view");
  CHECK(rows[2].person == "alice");
  CHECK(rows[3].source == "view-gate");
  // A person named as a note's subject is kept with the personal fields.
  CHECK(rows[4].source.empty());
  CHECK(rows[4].detail == "subject bob; all clear");
  CHECK(rows[5].kind == "operator");
  CHECK(rows[7].kind == "config");
  CHECK(rows[7].source == "sha256:abcd");

  auto v = store->verify();
  INFO(v.message);
  CHECK(v.ok);
  CHECK(v.records_checked == 8);
  CHECK(v.last_seq == 8);

  // An empty batch appends nothing and reports the current tail.
  auto none = store->append(std::span<const core::Record>{}, policy);
  REQUIRE(none.ok());
  CHECK(*none == 8);
}

TEST_CASE("a burst larger than one INSERT statement keeps every record's own fields, salt and link", "[audit][burst]") {
  TempDir dir;
  const auto policy = test::sample_policy();
  auto store = open_store(options_for(dir));
  // 75 = 64 + 8 + 1 + 1 + 1: every statement shape the store uses, in one transaction. Each note
  // names a different person as its subject, which the store rewrites into that record's detail;
  // records written by one statement must not share that text.
  std::vector<core::Record> batch;
  for (int i = 0; i < 75; ++i) {
    const std::string n = std::to_string(i);
    if (i % 3 == 0) {
      batch.emplace_back(core::Note{day(0, i), "guard_lift", "subject-" + n, "guard-" + n, "why " + n});
    } else {
      batch.emplace_back(decision(day(0, i), "person-" + n, static_cast<core::DoorIdx>(i % 3), core::Verdict::grant,
                                  core::Reason::ok));
    }
  }
  auto seq = store->append(batch, policy);
  REQUIRE(seq.ok());
  CHECK(*seq == 75);
  // Then single records and a second large burst on top of it.
  REQUIRE(store->append_entries(std::vector<Entry>{entry(day(1), "login", "op")}).ok());
  std::vector<Entry> more;
  for (int i = 0; i < 130; ++i) more.push_back(entry(day(1, i), "badge_add", "op", "badge " + std::to_string(i)));
  seq = store->append_entries(more);
  REQUIRE(seq.ok());
  CHECK(*seq == 206);

  const auto rows = all_rows(*store);
  REQUIRE(rows.size() == 206);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(rows[i].seq == i + 1);
    if (i > 0) CHECK(rows[i].prev_hash == rows[i - 1].hash);
  }
  for (int i = 0; i < 75; ++i) {
    const Row& r = rows[static_cast<std::size_t>(i)];
    const std::string n = std::to_string(i);
    if (i % 3 == 0) {
      CHECK(r.person == "guard-" + n);
      CHECK(r.detail == "subject subject-" + n + "; why " + n);
    } else {
      CHECK(r.person == "person-" + n);
      CHECK(r.door == policy.doors[static_cast<std::size_t>(i % 3)].id);
    }
  }
  CHECK(rows[205].detail == "badge 129");

  // One random draw per batch still gives every personal record its own 16-byte salt.
  test::RawDb db(store->database_path());
  CHECK(db.scalar("SELECT count(*) FROM records WHERE length(salt) = 16") == 206);
  CHECK(db.scalar("SELECT count(DISTINCT salt) FROM records") == 206);

  auto v = store->verify();
  INFO(v.message);
  CHECK(v.ok);
  CHECK(v.records_checked == 206);
}

TEST_CASE("a failure in a burst of several INSERT statements leaves nothing of it", "[audit][fault][burst]") {
  TempDir dir;
  auto o = options_for(dir);
  o.fault_injection = true;
  auto store = open_store(o);
  REQUIRE(store->append_entries(std::vector<Entry>{entry(day(0), "warmup")}).ok());
  std::vector<Entry> batch;
  for (int i = 0; i < 150; ++i) batch.push_back(entry(day(0, i), "burst", "p" + std::to_string(i)));
  REQUIRE(store->inject_fault(Fault{Fault::Kind::disk_full, 2, false}));
  auto r = store->append_entries(batch);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::disk_full);
  CHECK(store->last_seq() == 1);
  CHECK(all_rows(*store).size() == 1);
  r = store->append_entries(batch);
  REQUIRE(r.ok());
  CHECK(*r == 151);
  CHECK(store->verify().ok);
}

TEST_CASE("the hash encoding is length-prefixed and covers personal fields through a digest", "[audit]") {
  codec::Encoder enc;
  const codec::Salt salt{1, 2, 3};
  auto hash_of = [&](codec::Fields f) {
    Hash pd{};
    Hash h{};
    REQUIRE(enc.personal_digest(f, salt, pd));
    REQUIRE(enc.record_hash(f, pd, Hash{}, h));
    return h;
  };
  codec::Fields a;
  a.seq = 1;
  a.kind = "note";
  a.event = "ab";
  a.door = "c";
  codec::Fields b = a;
  b.event = "a";
  b.door = "bc";
  CHECK(hash_of(a) != hash_of(b));  // moving a byte across a field boundary changes the hash
  codec::Fields c = a;
  c.person = "al";
  c.badge = "ice";
  codec::Fields d = a;
  d.person = "ali";
  d.badge = "ce";
  CHECK(hash_of(c) != hash_of(d));
  codec::Fields e = a;
  e.seq = 2;
  CHECK(hash_of(a) != hash_of(e));

  // Layout: tag, u64 seq, i64 time, then u32-length-prefixed strings.
  Hash zero{};
  const std::string& bytes = enc.encode_record(a, zero, zero);
  CHECK(bytes.substr(0, codec::kRecordTag.size()) == codec::kRecordTag);
  CHECK(bytes.size() == codec::kRecordTag.size() + 8 + 8 + 10 * 4 + 4 + 2 + 1 + 8 + 32 + 32);
  CHECK(bytes[codec::kRecordTag.size() + 7] == 1);  // seq, big-endian

  // No personal data: the digest is all zeros, so such records need no salt.
  Hash pd{};
  REQUIRE(enc.personal_digest(a, salt, pd));
  CHECK(pd == Hash{});
}

TEST_CASE("one append is one transaction: a failure inside a batch leaves nothing of it", "[audit][fault]") {
  TempDir dir;
  auto o = options_for(dir);
  o.fault_injection = true;
  auto store = open_store(o);
  std::vector<Entry> first(10, entry(day(0), "warmup"));
  REQUIRE(store->append_entries(first).ok());

  std::vector<Entry> batch;
  for (int i = 0; i < 64; ++i) batch.push_back(entry(day(0, i), "burst", "p" + std::to_string(i)));
  REQUIRE(store->inject_fault(Fault{Fault::Kind::io_error, 3, false}));
  auto r = store->append_entries(batch);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::io_error);
  CHECK(store->faults_fired() == 1);
  CHECK(store->last_seq() == 10);
  CHECK(all_rows(*store).size() == 10);

  r = store->append_entries(batch);
  REQUIRE(r.ok());
  CHECK(*r == 74);
  CHECK(store->verify().ok);
}

TEST_CASE("an append is fsync'd before it returns", "[audit][fault]") {
  TempDir dir;
  auto o = options_for(dir);
  o.fault_injection = true;
  auto store = open_store(o);
  REQUIRE(store->append_entries(std::vector<Entry>{entry(day(0), "a")}).ok());
  // If the commit did not fsync, a failing fsync could not fail the append.
  store->inject_fault(Fault{Fault::Kind::fsync_error, 1, false});
  auto r = store->append_entries(std::vector<Entry>{entry(day(0), "b")});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::io_error);
  CHECK(store->faults_fired() == 1);
}

TEST_CASE("injected write failures are reported distinctly and the store stays usable", "[audit][fault]") {
  TempDir dir;
  auto o = options_for(dir);
  o.fault_injection = true;
  const auto policy = test::sample_policy();
  auto store = open_store(o);
  std::vector<core::Record> recs{decision(day(0), "alice", 0, core::Verdict::grant, core::Reason::ok)};
  REQUIRE(store->append(recs, policy).ok());

  SECTION("disk full") {
    store->inject_fault(Fault{Fault::Kind::disk_full, 1, false});
    auto r = store->append(recs, policy);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::disk_full);
    CHECK(to_string(r.error().code) == "disk_full");
  }
  SECTION("I/O error") {
    store->inject_fault(Fault{Fault::Kind::io_error, 1, false});
    auto r = store->append(recs, policy);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::io_error);
  }
  SECTION("a disk that stays full") {
    store->inject_fault(Fault{Fault::Kind::disk_full, 1, true});
    for (int i = 0; i < 3; ++i) {
      auto r = store->append(recs, policy);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == Errc::disk_full);
    }
    CHECK(store->faults_fired() >= 3);
    auto cp = store->checkpoint(day(1));
    REQUIRE_FALSE(cp.ok());
    CHECK(cp.error().code == Errc::disk_full);
    store->inject_fault(std::nullopt);
  }
  // Afterwards: appends continue the chain without a gap, and the log verifies.
  auto r = store->append(recs, policy);
  REQUIRE(r.ok());
  CHECK(*r == 2);
  REQUIRE(store->checkpoint(day(1)).ok());
  auto v = store->verify();
  INFO(v.message);
  CHECK(v.ok);
  CHECK(v.records_checked == 2);
}

TEST_CASE("should_checkpoint follows N records or M time", "[audit]") {
  TempDir dir;
  auto store = open_store(options_for(dir));  // N = 10, M = 60 s
  CHECK_FALSE(store->should_checkpoint(day(0)));
  std::vector<Entry> nine(9, entry(day(0), "e"));
  REQUIRE(store->append_entries(nine).ok());
  CHECK_FALSE(store->should_checkpoint(day(0, 1000)));
  CHECK(store->should_checkpoint(day(0, 60'000)));  // the oldest unsigned record waited M
  REQUIRE(store->append_entries(std::vector<Entry>{entry(day(0, 2000), "e")}).ok());
  CHECK(store->should_checkpoint(day(0, 2000)));  // N reached
  auto cp = store->checkpoint(day(0, 2000));
  REQUIRE(cp.ok());
  CHECK(cp->seq == 10);
  CHECK(cp->gateway_id == "gw-test-1");
  CHECK(cp->key_id == store->key_id());
  CHECK_FALSE(store->should_checkpoint(day(0, 100'000)));
  // Asking again without new records returns the same checkpoint.
  auto again = store->checkpoint(day(0, 3000));
  REQUIRE(again.ok());
  CHECK(again->seq == 10);
  CHECK(again->signature == cp->signature);

  REQUIRE(store->append_entries(std::vector<Entry>{entry(day(0, 5000), "e")}).ok());
  CHECK_FALSE(store->should_checkpoint(day(0, 64'999)));
  CHECK(store->should_checkpoint(day(0, 65'000)));
  REQUIRE(store->checkpoint(day(0, 65'000)).ok());
  auto list = store->checkpoints();
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[1].seq == 11);

  // The state survives a reopen.
  store.reset();
  store = open_store(options_for(dir));
  CHECK(store->last_seq() == 11);
  CHECK_FALSE(store->should_checkpoint(day(1)));
}

TEST_CASE("the signing key is created with mode 0600 and its public half exported", "[audit][key]") {
  TempDir dir;
  auto o = options_for(dir);
  {
    auto store = open_store(o);
    REQUIRE(store->append_entries(std::vector<Entry>{entry(day(0), "e")}).ok());
    REQUIRE(store->checkpoint(day(0)).ok());
  }
  struct stat st {};
  const auto key = o.state_dir / "audit-signing.key";
  REQUIRE(::stat(key.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(S_ISREG(st.st_mode));
  REQUIRE(::stat((o.state_dir / "audit-signing.pub").c_str(), &st) == 0);
  CHECK((st.st_mode & 077) != 0);  // the public key is meant to be read
  REQUIRE(::stat(o.state_dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 077) == 0);  // the state directory is private too

  SECTION("a key readable by others is refused") {
    REQUIRE(::chmod(key.c_str(), 0644) == 0);
    auto s = AuditStore::open(o);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == Errc::signing_key);
    CHECK_THAT(s.error().message, Catch::Contains("chmod 600"));
  }
  SECTION("the same key is used again") {
    auto s = open_store(o);
    auto v = s->verify();
    INFO(v.message);
    CHECK(v.ok);
    CHECK(v.checkpoints_checked == 1);
  }
  SECTION("a replaced key is recorded, and old checkpoints no longer verify with it") {
    std::filesystem::remove(key);
    std::filesystem::remove(o.state_dir / "audit-signing.pub");
    auto s = open_store(o);
    auto rows = all_rows(*s);
    REQUIRE(rows.size() == 2);
    CHECK(rows[1].kind == "system");
    CHECK(rows[1].event == "signing_key_changed");
    auto v = s->verify();
    CHECK_FALSE(v.ok);
    CHECK_THAT(v.message, Catch::Contains("checkpoint at seq 1: signed by an unknown key"));
  }
}

TEST_CASE("a database belongs to one gateway; read-only opens verify but cannot write", "[audit]") {
  TempDir dir;
  auto o = options_for(dir);
  {
    auto s = open_store(o);
    REQUIRE(s->append_entries(std::vector<Entry>{entry(day(0), "e")}).ok());
    REQUIRE(s->checkpoint(day(0)).ok());
  }
  auto other = o;
  other.gateway_id = "gw-other";
  auto s = AuditStore::open(other);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == Errc::invalid_argument);
  CHECK_THAT(s.error().message, Catch::Contains("belongs to gateway 'gw-test-1'"));

  auto ro = o;
  ro.read_only = true;
  ro.gateway_id.clear();
  auto r = open_store(ro);
  CHECK(r->gateway_id() == "gw-test-1");
  auto v = r->verify();
  INFO(v.message);
  CHECK(v.ok);
  auto w = r->append_entries(std::vector<Entry>{entry(day(0), "e")});
  REQUIRE_FALSE(w.ok());
  CHECK(w.error().code == Errc::read_only);
}

TEST_CASE("queries filter by person, zone, door, verdict, reason, kind, event and time", "[audit][query]") {
  TempDir dir;
  const auto policy = test::sample_policy();
  auto store = open_store(options_for(dir));
  std::vector<core::Record> recs;
  // Day d, hour h: alice and bob alternate doors; every third decision is a deny.
  int n = 0;
  for (int d = 0; d < 5; ++d) {
    for (int h = 0; h < 6; ++h) {
      const bool deny = (n % 3) == 2;
      recs.emplace_back(decision(day(d, h * 3'600'000LL), n % 2 == 0 ? "alice" : "bob",
                                 static_cast<core::DoorIdx>(n % 3), deny ? core::Verdict::deny : core::Verdict::grant,
                                 deny ? core::Reason::no_clearance : core::Reason::ok));
      ++n;
    }
  }
  recs.emplace_back(core::Alarm{day(2), core::AlarmKind::tamper, core::Severity::critical, "cabinet", "", ""});
  REQUIRE(store->append(recs, policy).ok());

  auto count = [&](const Filter& f) {
    auto r = store->query(f, Page{});
    REQUIRE(r.ok());
    for (std::size_t i = 1; i < r->size(); ++i) {
      CHECK(((*r)[i - 1].at < (*r)[i].at || ((*r)[i - 1].at == (*r)[i].at && (*r)[i - 1].seq < (*r)[i].seq)));
    }
    return r->size();
  };
  Filter f;
  CHECK(count(f) == 31);
  f.person = "alice";
  CHECK(count(f) == 15);
  f.zone = "db-view";  // alice is even n, view-door is n % 3 == 1: n = 4, 10, 16, 22, 28
  const auto alice_view = count(f);
  Filter g;
  g.zone = "db-view";
  CHECK(count(g) == 10);
  CHECK(alice_view == 5);
  f.from = day(1);
  f.to = day(3);  // [day 1, day 3)
  CHECK(count(f) == 2);
  Filter deny;
  deny.verdict = "deny";
  CHECK(count(deny) == 10);
  Filter reason;
  reason.reason = "no_clearance";
  reason.door = "view-door";
  CHECK(count(reason) == 0);  // denies happen at n % 3 == 2: ops-door
  reason.door = "ops-door";
  CHECK(count(reason) == 10);
  Filter kind;
  kind.kind = "alarm";
  CHECK(count(kind) == 1);
  Filter time_only;
  time_only.from = day(4);
  CHECK(count(time_only) == 6);
  Filter person_zone_day;
  person_zone_day.person = "bob";
  person_zone_day.zone = "office";
  person_zone_day.from = day(0);
  person_zone_day.to = day(2);
  CHECK(count(person_zone_day) == 2);  // n = 3 and 9

  // Paging: limit/offset and keyset give the same rows.
  auto all = store->query(Filter{}, Page{1000, 0, std::nullopt});
  REQUIRE(all.ok());
  std::vector<Seq> by_keyset;
  std::optional<Cursor> after;
  for (;;) {
    auto page = store->query(Filter{}, Page{7, 0, after});
    REQUIRE(page.ok());
    if (page->empty()) break;
    for (const auto& r : *page) by_keyset.push_back(r.seq);
    after = Cursor::after(page->back());
  }
  REQUIRE(by_keyset.size() == all->size());
  for (std::size_t i = 0; i < by_keyset.size(); ++i) CHECK(by_keyset[i] == (*all)[i].seq);
  auto third = store->query(Filter{}, Page{7, 14, std::nullopt});
  REQUIRE(third.ok());
  REQUIRE(third->size() == 7);
  CHECK((*third)[0].seq == (*all)[14].seq);
}

TEST_CASE("chart counts per hour and zone, and per denial reason, match the records", "[audit][query][charts]") {
  TempDir dir;
  const auto policy = test::sample_policy();
  auto store = open_store(options_for(dir));
  constexpr std::int64_t kHour = 3'600'000;
  std::vector<core::Record> recs;
  // Hour h of day 0, minute m: a spread of doors, directions and verdicts, plus records exactly on
  // the range ends and outside them.
  int n = 0;
  for (int h = 0; h < 5; ++h) {
    for (int m = 0; m < 60; m += 7) {
      const bool deny = n % 4 == 3;
      const auto reason = n % 8 == 3 ? core::Reason::no_clearance : core::Reason::outside_schedule;
      recs.emplace_back(decision(day(0, h * kHour + m * 60'000LL), n % 2 == 0 ? "alice" : "bob",
                                 static_cast<core::DoorIdx>(n % 3), deny ? core::Verdict::deny : core::Verdict::grant,
                                 deny ? reason : core::Reason::ok,
                                 n % 5 == 0 ? core::Direction::out : core::Direction::in));
      ++n;
    }
  }
  recs.emplace_back(decision(day(0, -1), "carol", 0, core::Verdict::grant, core::Reason::ok));             // before
  recs.emplace_back(decision(day(0, 4 * kHour), "carol", 1, core::Verdict::deny, core::Reason::expired));  // at `to`
  recs.emplace_back(core::Alarm{day(0, kHour), core::AlarmKind::tamper, core::Severity::critical, "cabinet", "", ""});
  REQUIRE(store->append(recs, policy).ok());
  const std::vector<Entry> notes{entry(day(0, 2 * kHour), "login", "console:x")};
  REQUIRE(store->append_entries(notes).ok());

  const core::Instant from = day(0);
  const core::Instant to = day(0, 4 * kHour);
  // What the rows themselves say, counted here one by one.
  std::map<std::pair<core::Instant, std::string>, std::uint64_t> want_grants;
  std::map<std::string, std::uint64_t> want_denials;
  for (const Row& r : all_rows(*store)) {
    if (r.kind != "decision" || r.at < from || r.at >= to) continue;
    if (r.verdict == "grant") ++want_grants[{std::chrono::floor<std::chrono::hours>(r.at), r.zone}];
    if (r.verdict == "deny") ++want_denials[r.reason];
  }
  REQUIRE(want_grants.size() > 4);  // several zones in several hours
  REQUIRE(want_denials.size() == 2);

  auto grants = store->count_grants_by_hour_zone(from, to);
  REQUIRE(grants.ok());
  std::map<std::pair<core::Instant, std::string>, std::uint64_t> got_grants;
  for (const HourZoneCount& c : *grants) {
    CHECK(got_grants.emplace(std::pair{c.hour, c.zone}, c.count).second);  // one row per hour and zone
    CHECK(c.count > 0);
  }
  CHECK(got_grants == want_grants);
  for (std::size_t i = 1; i < grants->size(); ++i) {
    CHECK(std::pair((*grants)[i - 1].hour, (*grants)[i - 1].zone) < std::pair((*grants)[i].hour, (*grants)[i].zone));
  }

  auto denials = store->count_denials_by_reason(from, to);
  REQUIRE(denials.ok());
  std::map<std::string, std::uint64_t> got_denials;
  for (const ReasonCount& c : *denials) got_denials[c.reason] = c.count;
  CHECK(got_denials == want_denials);
  CHECK(got_denials.count("expired") == 0);  // the denial at `to` is outside [from, to)

  // A range that starts inside an hour counts from there; an empty range counts nothing.
  auto part = store->count_grants_by_hour_zone(day(0, 30 * 60'000LL), day(0, kHour));
  REQUIRE(part.ok());
  std::uint64_t in_part = 0;
  for (const HourZoneCount& c : *part) {
    CHECK(c.hour == day(0));
    in_part += c.count;
  }
  std::uint64_t want_part = 0;
  for (const Row& r : all_rows(*store)) {
    want_part += r.kind == "decision" && r.verdict == "grant" && r.at >= day(0, 30 * 60'000LL) && r.at < day(0, kHour);
  }
  CHECK(in_part == want_part);
  CHECK(in_part > 0);
  auto none = store->count_denials_by_reason(day(1), day(2));
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("CSV export follows RFC 4180 and JSON Lines escapes everything", "[audit][export]") {
  TempDir dir;
  auto store = open_store(options_for(dir));
  std::vector<Entry> es{entry(day(0), "note", "o'brien \"ob\"", "a,b\r\nc"), entry(day(0, 1), "plain", "x", "y")};
  es.push_back(entry(day(0, 2), "ctl", "",
                     std::string("tab\there\x01 nul:") + '\0' + " bad:\xff\xfe utf8:\xc3\xa9 ls:\xe2\x80\xa8"));
  REQUIRE(store->append_entries(es).ok());

  std::ostringstream csv;
  auto n = store->export_csv(Filter{}, csv);
  REQUIRE(n.ok());
  CHECK(*n == 3);
  const std::string text = csv.str();
  CHECK(
      text.rfind("seq,time,kind,event,person,badge,door,zone,direction,verdict,reason,alarm,severity,source,ref,detail,"
                 "purged_by,prev_hash,hash\r\n",
                 0) == 0);
  CHECK_THAT(text, Catch::Contains(
                       "1,2026-03-02T00:00:00.000Z,operator,note,\"o'brien \"\"ob\"\"\",,,,,,,,,,,\"a,b\r\nc\",,"));
  CHECK_THAT(text, Catch::Contains("2,2026-03-02T00:00:00.001Z,operator,plain,x,,,,,,,,,,,y,,"));

  std::ostringstream jsonl;
  n = store->export_jsonl(Filter{}, jsonl);
  REQUIRE(n.ok());
  std::vector<std::string> lines;
  std::istringstream in(jsonl.str());
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  REQUIRE(lines.size() == 3);
  CHECK_THAT(lines[0],
             Catch::StartsWith("{\"seq\":1,\"time\":\"2026-03-02T00:00:00.000Z\",\"time_ms\":1772409600000,"));
  CHECK_THAT(lines[0], Catch::Contains("\"person\":\"o'brien \\\"ob\\\"\""));
  CHECK_THAT(lines[0], Catch::Contains("\"detail\":\"a,b\\r\\nc\""));
  CHECK_THAT(lines[2], Catch::Contains(
                           "\"detail\":\"tab\\there\\u0001 nul:\\u0000 bad:\\ufffd\\ufffd utf8:\xc3\xa9 ls:\\u2028\""));

  std::string s;
  append_json_string(s, "\xed\xa0\x80|\xc0\xaf|\xf4\x90\x80\x80|\x7f|\\");  // surrogate, overlong, > U+10FFFF
  CHECK(s == "\"\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|\x7f|\\\\\"");
  std::string c;
  append_csv_field(c, "plain");
  append_csv_field(c, "\"");
  CHECK(c == "plain\"\"\"\"");
}

TEST_CASE("CSV export neutralises spreadsheet formulas; JSON Lines keeps the text as it is", "[audit][export]") {
  TempDir dir;
  auto store = open_store(options_for(dir));
  // Text an operator, a badge or a config file could put into a record, starting with each of
  // OWASP's formula characters.
  std::vector<Entry> es{entry(day(0), "=HYPERLINK(\"http://x\",\"y\")", "+41 22", "-2+3"),
                        entry(day(0, 1), "@SUM(A1)", "\tcmd", "\rcr"), entry(day(0, 2), "a=b", "x-y", "=1,2")};
  es[1].source = "-";
  REQUIRE(store->append_entries(es).ok());

  std::ostringstream csv;
  auto n = store->export_csv(Filter{}, csv);
  REQUIRE(n.ok());
  CHECK(*n == 3);
  const std::string text = csv.str();
  CHECK_THAT(text,
             Catch::Contains("1,2026-03-02T00:00:00.000Z,operator,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'+41 "
                             "22,,,,,,,,,,,'-2+3,,"));
  CHECK_THAT(text, Catch::Contains("2,2026-03-02T00:00:00.001Z,operator,'@SUM(A1),'\tcmd,,,,,,,,,'-,,\"'\rcr\",,"));
  // Only the first character counts; a quoted field keeps its quotes around the neutralised text.
  CHECK_THAT(text, Catch::Contains("3,2026-03-02T00:00:00.002Z,operator,a=b,x-y,,,,,,,,,,,\"'=1,2\",,"));

  std::ostringstream jsonl;
  REQUIRE(store->export_jsonl(Filter{}, jsonl).ok());
  CHECK_THAT(jsonl.str(), Catch::Contains("\"event\":\"=HYPERLINK(\\\"http://x\\\",\\\"y\\\")\""));
  CHECK_THAT(jsonl.str(), Catch::Contains("\"person\":\"+41 22\""));
  CHECK_THAT(jsonl.str(), Catch::Contains("\"detail\":\"-2+3\""));

  // The plain RFC 4180 field (used for CSV that a program reads back) is left as it is.
  std::string plain;
  append_csv_field(plain, "=1");
  CHECK(plain == "=1");
  std::string safe;
  append_csv_export_field(safe, "");
  append_csv_export_field(safe, "ok");
  CHECK(safe == "ok");
}

TEST_CASE("a retention purge redacts old personal data and the chain still verifies", "[audit][retention]") {
  TempDir dir;
  const auto policy = test::sample_policy();
  auto o = options_for(dir);
  auto store = open_store(o);
  std::vector<core::Record> recs;
  for (int d = 0; d < 10; ++d) {
    recs.emplace_back(decision(day(d), "alice", 1, core::Verdict::grant, core::Reason::ok));
    recs.emplace_back(core::Note{day(d, 1), "door_open", "lobby", "", "forced"});  // no person: kept
  }
  REQUIRE(store->append(recs, policy).ok());
  REQUIRE(store->checkpoint(day(10)).ok());

  auto rep = store->purge_personal_data(day(5), day(10), "admin");
  REQUIRE(rep.ok());
  CHECK(rep->redacted == 5);
  CHECK(rep->retention_seq == 21);

  auto rows = all_rows(*store);
  REQUIRE(rows.size() == 21);
  for (const auto& r : rows) {
    if (r.kind == "decision" && r.at < day(5)) {
      CHECK(r.person == kTombstone);
      CHECK(r.badge == kTombstone);
      CHECK(r.purged_by == 21);
      CHECK(r.door == "view-door");  // the non-personal facts stay
      CHECK(r.verdict == "grant");
    } else if (r.kind == "decision") {
      CHECK(r.person == "alice");
      CHECK(r.purged_by == 0);
    }
  }
  CHECK(rows[1].detail == "forced");
  const Row& purge = rows[20];
  CHECK(purge.kind == "retention");
  CHECK(purge.event == "purge_personal_data");
  CHECK(purge.person == "admin");
  CHECK(purge.ref == day(5).time_since_epoch().count());
  CHECK(purge.source == "redacted 5 records older than 2026-03-07T00:00:00.000Z");

  auto v = store->verify();
  INFO(v.message);
  CHECK(v.ok);
  CHECK(v.records_checked == 21);

  // Queries by person no longer find the purged rows.
  Filter f;
  f.person = "alice";
  auto q = store->query(f, Page{});
  REQUIRE(q.ok());
  CHECK(q->size() == 5);

  // A second purge with a later cutoff redacts the rest (and the first purge's actor).
  auto rep2 = store->purge_personal_data(day(11), day(11), "admin");
  REQUIRE(rep2.ok());
  CHECK(rep2->redacted == 6);
  v = store->verify();
  INFO(v.message);
  CHECK(v.ok);
  auto none = store->purge_personal_data(day(11), day(11), "");
  REQUIRE(none.ok());
  CHECK(none->redacted == 0);

  auto future = store->purge_personal_data(day(12), day(11), "admin");
  REQUIRE_FALSE(future.ok());
  CHECK(future.error().code == Errc::invalid_argument);
}

}  // namespace
}  // namespace zonegate::adapters::audit
