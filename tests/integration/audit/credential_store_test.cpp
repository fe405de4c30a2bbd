// SPDX-License-Identifier: Apache-2.0
// The credential store: enrolment, lookup, revocation, role mapping, the all-or-nothing CSV
// import, and versioned upstream change batches.
#include "adapters/credentials/credential_store.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <sstream>
#include <streambuf>

#include "adapters/credentials/credential_csv.hpp"
#include "test_support.hpp"

namespace zonegate::adapters::credentials {
namespace {

using test::day;
using test::TempDir;

std::unique_ptr<CredentialStore> open_store(const TempDir& dir) {
  auto s = CredentialStore::open(dir.path() / "credentials.db");
  INFO((s ? std::string("ok") : s.error().message));
  REQUIRE(s.ok());
  return std::move(s.value());
}

core::RoleMask bit(const core::Policy& p, const char* role) { return core::RoleMask{1} << *p.role_index(role); }

std::size_t badge_count(CredentialStore& s) {
  auto l = s.list(ListOptions{std::nullopt, std::nullopt, 1'000'000});
  REQUIRE(l.ok());
  return l->size();
}

TEST_CASE("badges are enrolled, looked up and revoked", "[credentials]") {
  TempDir dir;
  const auto policy = test::sample_policy();
  auto store = open_store(dir);
  REQUIRE(store->put_person(Person{"alice", "Alice A.", {"employee", "dba"}}, day(0)).ok());

  Badge b;
  b.uid = "04:a2:2b:c1:5d:80:01";
  b.person = "alice";
  b.kind = core::CredentialKind::desfire;
  b.valid_until = day(30);
  REQUIRE(store->add(b, day(0)).ok());

  auto h = store->lookup("04A22BC15D8001", policy);
  REQUIRE(h);
  CHECK(h->person_id == "alice");
  CHECK(h->roles == (bit(policy, "employee") | bit(policy, "dba")));
  CHECK(h->enrolled == core::CredentialKind::desfire);
  CHECK_FALSE(h->valid_from);
  CHECK(h->valid_until == day(30));
  CHECK_FALSE(h->revoked);
  CHECK(store->lookup("04:a2:2b:c1:5d:80:01", policy));  // separators and case do not matter
  CHECK_FALSE(store->lookup("04A22BC15D8002", policy));  // unknown
  CHECK_FALSE(store->lookup("not hex", policy));
  CHECK_FALSE(store->last_error());

  auto info = store->find("04A22BC15D8001");
  REQUIRE(info);
  CHECK(info->name == "Alice A.");
  CHECK(info->roles == std::vector<std::string>{"employee", "dba"});

  auto dup = store->add(b, day(1));
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code == Errc::conflict);
  Badge orphan = b;
  orphan.uid = "11223344";
  orphan.person = "nobody";
  auto o = store->add(orphan, day(1));
  REQUIRE_FALSE(o.ok());
  CHECK(o.error().code == Errc::not_found);
  CHECK_FALSE(store->lookup("11223344", policy));

  REQUIRE(store->revoke("04A22BC15D8001", day(2)).ok());
  h = store->lookup("04A22BC15D8001", policy);
  REQUIRE(h);
  CHECK(h->revoked);  // still known: the engine denies with reason `revoked`
  CHECK(store->revoke("04A22BC15D8001", day(3)).ok());
  auto missing = store->revoke("DEADBEEF", day(3));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::not_found);

  // Roles the policy does not know grant nothing.
  REQUIRE(store->put_person(Person{"alice", "Alice A.", {"employee", "retired-role"}}, day(4)).ok());
  h = store->lookup("04A22BC15D8001", policy);
  REQUIRE(h);
  CHECK(h->roles == bit(policy, "employee"));
}

TEST_CASE("role names map to the policy's role mask", "[credentials]") {
  const auto policy = test::sample_policy();
  std::vector<std::string> unknown;
  const std::vector<std::string> names{"guard", "employee", "wizard"};
  CHECK(role_mask(names, policy, &unknown) == (bit(policy, "guard") | bit(policy, "employee")));
  CHECK(unknown == std::vector<std::string>{"wizard"});
  CHECK(role_mask(std::vector<std::string>{}, policy) == 0);
  CHECK(policy.role_names(role_mask(names, policy)) == "employee,guard");
}

TEST_CASE("a good CSV is imported in one go", "[credentials][csv]") {
  TempDir dir;
  const auto policy = test::sample_policy();
  auto store = open_store(dir);
  std::istringstream csv(
      "\xEF\xBB\xBFuid,person,roles,kind,valid_from,valid_until\r\n"
      "04A22BC1,alice,employee;dba,desfire,2026-01-01,2026-12-31\r\n"
      "\"04:A2:2B:C2\",alice,dba;employee,uid,,\r\n"
      "\r\n"
      "deadbeef,bob,\"employee\",uid,2026-03-01T08:00Z,2026-03-01T17:30:00.500+01:00\r\n"
      "cafe0001,carol,,uid,,\r\n");
  auto rep = store->import_csv(csv, day(0), &policy);
  INFO((rep.errors.empty() ? std::string() : rep.errors.front().reason));
  REQUIRE(rep.applied);
  CHECK(rep.rows == 4);
  CHECK(rep.added == 4);
  CHECK(rep.updated == 0);
  CHECK(rep.errors.empty());

  auto a = store->lookup("04A22BC1", policy);
  REQUIRE(a);
  CHECK(a->roles == (bit(policy, "employee") | bit(policy, "dba")));
  CHECK(a->enrolled == core::CredentialKind::desfire);
  CHECK(a->valid_from == test::at_ms(1767225600000LL));       // 2026-01-01T00:00:00Z
  CHECK(a->valid_until == test::at_ms(1798761600000LL - 1));  // 2026-12-31T23:59:59.999Z
  auto b = store->lookup("DEADBEEF", policy);
  REQUIRE(b);
  CHECK(b->valid_from == test::at_ms(1772352000000LL));   // 2026-03-01T08:00Z
  CHECK(b->valid_until == test::at_ms(1772382600500LL));  // 17:30:00.500+01:00
  auto c = store->lookup("CAFE0001", policy);
  REQUIRE(c);
  CHECK(c->roles == 0);

  // Importing again updates, and never brings back a revoked badge.
  REQUIRE(store->revoke("DEADBEEF", day(1)).ok());
  std::istringstream again(
      "uid,person,roles,kind,valid_from,valid_until\n"
      "deadbeef,bob,employee;guard,uid,,\n"
      "0102030405060708090A,dave,contractor,uid,,\n");
  rep = store->import_csv(again, day(2), &policy);
  REQUIRE(rep.applied);
  CHECK(rep.added == 1);
  CHECK(rep.updated == 1);
  b = store->lookup("DEADBEEF", policy);
  REQUIRE(b);
  CHECK(b->revoked);
  CHECK(b->roles == (bit(policy, "employee") | bit(policy, "guard")));
  CHECK_FALSE(b->valid_from);
  CHECK(badge_count(*store) == 5);
}

TEST_CASE("a CSV with bad rows is rejected whole, with every line and reason", "[credentials][csv]") {
  TempDir dir;
  const auto policy = test::sample_policy();
  auto store = open_store(dir);
  std::istringstream seed("uid,person,roles,kind,valid_from,valid_until\n11111111,zed,employee,uid,,\n");
  REQUIRE(store->import_csv(seed, day(0), &policy).applied);

  std::istringstream csv(
      "uid,person,roles,kind,valid_from,valid_until\n"     // 1
      "04A22BC1,alice,employee,desfire,,\n"                // 2 good
      "04A22BC,bob,employee,uid,,\n"                       // 3 odd number of hex digits
      "22222222,bob smith,employee,uid,,\n"                // 4 space in person
      "33333333,carol,employee;;dba,uid,,\n"               // 5 empty role
      "44444444,dan,wizard,uid,,\n"                        // 6 unknown role
      "55555555,erin,employee,magstripe,,\n"               // 7 bad kind
      "66666666,fay,employee,uid,2026-02-30,\n"            // 8 no such date
      "77777777,gus,employee,uid,2026-05-01,2026-04-01\n"  // 9 until before from
      "88888888,hal,employee,uid,2026-05-01T10:00,\n"      // 10 no offset
      "99999999,ida,employee,uid,,,extra\n"                // 11 seven fields
      "\"0A0A0A0A\"x,jo,employee,uid,,\n"                  // 12 text after a closing quote
      "04a22bc1,kim,employee,uid,,\n"                      // 13 same uid as line 2
      "ABABABAB,alice,dba,uid,,\n"                         // 14 alice's roles differ from line 2
      "\"CDCDCDCD\",\"multi\n"                             // 15-16 quoted newline inside a person id
      "line\",employee,uid,,\n"
      "EFEFEFEF,lou,employee,uid,,\n");  // 17 good
  auto rep = store->import_csv(csv, day(1), &policy);
  CHECK_FALSE(rep.applied);
  std::vector<std::pair<std::size_t, std::string>> got;
  for (const auto& e : rep.errors) got.emplace_back(e.line, e.reason);
  const std::vector<std::pair<std::size_t, std::string>> want{
      {3, "uid '04A22BC': expected 4 to 10 bytes in hex (8 to 20 hex digits)"},
      {4, "person 'bob smith': expected 1-128 characters of A-Z a-z 0-9 . _ @ + -"},
      {5, "roles: empty role name in 'employee;;dba'"},
      {6, "roles: unknown role 'wizard'"},
      {7, "kind 'magstripe': expected uid or desfire"},
      {8, "valid_from '2026-02-30': no such date"},
      {9, "valid_until precedes valid_from"},
      {10, "valid_from '2026-05-01T10:00': a time needs Z or a UTC offset (+HH:MM)"},
      {11, "expected 6 fields (uid,person,roles,kind,valid_from,valid_until), found 7"},
      {12, "characters after a closing quote"},
      {13, "uid 04A22BC1 already appears on line 2"},
      {14, "person alice: roles differ from line 2"},
      {15, "person 'multi?line': expected 1-128 characters of A-Z a-z 0-9 . _ @ + -"},
  };
  CHECK(got == want);
  CHECK(rep.rows == 15);
  // Nothing of it was applied: the good lines 2 and 17 are not there either.
  CHECK(badge_count(*store) == 1);
  CHECK_FALSE(store->lookup("04A22BC1", policy));
  CHECK_FALSE(store->lookup("EFEFEFEF", policy));
  CHECK(store->lookup("11111111", policy));

  SECTION("a wrong header stops at line 1") {
    std::istringstream bad("uid;person;roles\n04A22BC1;alice;employee\n");
    auto r = store->import_csv(bad, day(1), &policy);
    CHECK_FALSE(r.applied);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].line == 1);
    CHECK_THAT(r.errors[0].reason, Catch::StartsWith("expected the header uid,person,roles,kind,valid_from,"));
  }
  SECTION("an empty file") {
    std::istringstream empty("");
    auto r = store->import_csv(empty, day(1), &policy);
    CHECK_FALSE(r.applied);
    REQUIRE(r.errors.size() == 1);
  }
  SECTION("an unterminated quote") {
    std::istringstream bad("uid,person,roles,kind,valid_from,valid_until\n\"04A22BC1,alice,employee,uid,,\n");
    auto r = store->import_csv(bad, day(1), &policy);
    CHECK_FALSE(r.applied);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].line == 2);
    CHECK_THAT(r.errors[0].reason, Catch::StartsWith("unterminated quoted field"));
  }
  CHECK(badge_count(*store) == 1);
}

/// A stream that fails after `n` bytes, as a file on a failing disk would.
class FailingBuf : public std::streambuf {
 public:
  FailingBuf(std::string text, std::size_t n) : text_(std::move(text)), n_(n) {}

 protected:
  int_type underflow() override {
    if (pos_ >= n_) throw std::ios_base::failure("read error");
    if (pos_ >= text_.size()) return traits_type::eof();
    return traits_type::to_int_type(text_[pos_]);
  }
  int_type uflow() override {
    const int_type c = underflow();
    if (!traits_type::eq_int_type(c, traits_type::eof())) ++pos_;
    return c;
  }

 private:
  std::string text_;
  std::size_t n_;
  std::size_t pos_ = 0;
};

TEST_CASE("an import whose input fails midway applies nothing", "[credentials][csv]") {
  TempDir dir;
  const auto policy = test::sample_policy();
  auto store = open_store(dir);
  const std::string text =
      "uid,person,roles,kind,valid_from,valid_until\n"
      "04A22BC1,alice,employee,uid,,\n"
      "04A22BC2,bob,employee,uid,,\n";
  FailingBuf buf(text, text.size() - 5);
  std::istream in(&buf);
  auto rep = store->import_csv(in, day(0), &policy);
  CHECK_FALSE(rep.applied);
  REQUIRE_FALSE(rep.errors.empty());
  CHECK_THAT(rep.errors.back().reason, Catch::StartsWith("import failed"));
  CHECK_FALSE(store->lookup("04A22BC1", policy));
  // No transaction was left open.
  REQUIRE(store->put_person(Person{"carol", "", {"employee"}}, day(1)).ok());
  Badge b;
  b.uid = "0C0C0C0C";
  b.person = "carol";
  REQUIRE(store->add(b, day(1)).ok());
  CHECK(store->lookup("0C0C0C0C", policy));
}

TEST_CASE("uid, time and role parsing", "[credentials][csv]") {
  CHECK(normalize_uid("04a22bc1") == "04A22BC1");
  CHECK(normalize_uid("04:A2:2B:C1") == "04A22BC1");
  CHECK(normalize_uid("04-a2-2b-c1-5d-80-01") == "04A22BC15D8001");
  CHECK_FALSE(normalize_uid("04A22B"));                  // 3 bytes
  CHECK_FALSE(normalize_uid("0102030405060708090A0B"));  // 11 bytes
  CHECK_FALSE(normalize_uid("0:4A22BC1"));               // separator inside a byte
  CHECK_FALSE(normalize_uid("04A22BC1:"));
  CHECK_FALSE(normalize_uid(""));
  CHECK_FALSE(normalize_uid("04A22BCG"));
  std::string err;
  CHECK(parse_validity("2024-02-29", false, &err) == test::at_ms(1709164800000LL));
  CHECK_FALSE(parse_validity("2023-02-29", false, &err));
  CHECK(parse_validity("2026-03-02T00:00:00.000Z", false, &err) == day(0));
  CHECK(parse_validity("2026-03-02T09:00+09:00", false, &err) == day(0));
  CHECK_FALSE(parse_validity("2026-03-02T24:00Z", false, &err));
  CHECK_FALSE(parse_validity("2026-03-02T10:00Zjunk", false, &err));
  CHECK_FALSE(parse_validity("2026-3-2", false, &err));
  auto roles = split_roles("a;b.c;d-e_f", &err);
  REQUIRE(roles);
  CHECK(roles->size() == 3);
  CHECK_FALSE(split_roles("a;a", &err));
  CHECK(err == "role 'a' listed twice");
  CHECK_FALSE(split_roles("a;", &err));
  CHECK_FALSE(split_roles("a b", &err));
}

TEST_CASE("upstream change batches apply atomically and in version order", "[credentials][upstream]") {
  TempDir dir;
  const auto policy = test::sample_policy();
  auto store = open_store(dir);
  CHECK(store->version() == 0);

  Badge b;
  b.uid = "0A0B0C0D";
  b.person = "frank";  // named before the person arrives in the same batch: fine
  std::vector<Change> batch{b, Person{"frank", "Frank", {"employee"}}};
  REQUIRE(store->apply_changes(batch, 5, day(0)).ok());
  CHECK(store->version() == 5);
  auto info = store->find("0A0B0C0D");
  REQUIRE(info);
  CHECK(info->badge.version == 5);
  CHECK(info->roles == std::vector<std::string>{"employee"});

  auto stale = store->apply_changes(batch, 5, day(1));
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().code == Errc::conflict);

  // A batch with one bad change leaves nothing behind.
  Badge revoked = b;
  revoked.revoked = true;
  Badge orphan;
  orphan.uid = "0E0E0E0E";
  orphan.person = "ghost";
  std::vector<Change> bad{revoked, orphan};
  auto r = store->apply_changes(bad, 6, day(1));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK(store->version() == 5);
  auto h = store->lookup("0A0B0C0D", policy);
  REQUIRE(h);
  CHECK_FALSE(h->revoked);

  // Upstream is authoritative: it may revoke and un-revoke, and remove.
  std::vector<Change> rev{revoked};
  REQUIRE(store->apply_changes(rev, 7, day(2)).ok());
  CHECK(store->lookup("0A0B0C0D", policy)->revoked);
  std::vector<Change> gone{RemovePerson{"frank"}};
  REQUIRE(store->apply_changes(gone, 8, day(3)).ok());
  CHECK_FALSE(store->lookup("0A0B0C0D", policy));  // the person's badges went with them

  // The version survives a reopen.
  store.reset();
  store = open_store(dir);
  CHECK(store->version() == 8);
}

TEST_CASE("badges are listed in uid order with keyset paging", "[credentials]") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->put_person(Person{"p1", "", {"employee"}}, day(0)).ok());
  REQUIRE(store->put_person(Person{"p2", "", {}}, day(0)).ok());
  for (int i = 0; i < 25; ++i) {
    Badge b;
    char uid[9];
    std::snprintf(uid, sizeof uid, "%08X", 0x1000 + i);
    b.uid = uid;
    b.person = i % 5 == 0 ? "p2" : "p1";
    REQUIRE(store->add(b, day(0)).ok());
  }
  std::vector<std::string> uids;
  ListOptions lo;
  lo.limit = 10;
  for (;;) {
    auto page = store->list(lo);
    REQUIRE(page.ok());
    if (page->empty()) break;
    for (const auto& b : *page) uids.push_back(b.badge.uid);
    lo.after_uid = page->back().badge.uid;
  }
  REQUIRE(uids.size() == 25);
  CHECK(std::is_sorted(uids.begin(), uids.end()));
  ListOptions p2;
  p2.person = "p2";
  auto l = store->list(p2);
  REQUIRE(l.ok());
  CHECK(l->size() == 5);
}

TEST_CASE("people are listed in id order with keyset paging, badgeless ones too, with badge counts",
          "[credentials][people]") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->put_person(Person{"ana", "Ana A.", {"employee", "dba"}}, day(0)).ok());
  REQUIRE(store->put_person(Person{"bo", "", {}}, day(1)).ok());  // no badge at all
  REQUIRE(store->put_person(Person{"cy", "Cy", {"employee"}}, day(2)).ok());
  const auto badge = [&](const char* uid, const char* person, std::optional<core::Instant> from,
                         std::optional<core::Instant> until) {
    Badge b;
    b.uid = uid;
    b.person = person;
    b.valid_from = from;
    b.valid_until = until;
    REQUIRE(store->add(b, day(0)).ok());
  };
  badge("0A000001", "ana", std::nullopt, std::nullopt);  // active
  badge("0A000002", "ana", std::nullopt, day(10));       // active until day 10 (inclusive)
  badge("0A000003", "ana", day(20), std::nullopt);       // not yet valid
  badge("0A000004", "ana", std::nullopt, std::nullopt);  // revoked below
  badge("0C000001", "cy", std::nullopt, day(4));         // expired by day 5
  REQUIRE(store->revoke("0A000004", day(1)).ok());

  auto all = store->list_people("", 100, day(5));
  REQUIRE(all.ok());
  REQUIRE(all->size() == 3);
  const PersonInfo& ana = (*all)[0];
  CHECK(ana.person.id == "ana");
  CHECK(ana.person.name == "Ana A.");
  CHECK(ana.person.roles == std::vector<std::string>{"employee", "dba"});
  CHECK(ana.updated_at == day(0));
  CHECK(ana.badges == 4);
  CHECK(ana.active_badges == 2);
  CHECK((*all)[1].person.id == "bo");
  CHECK((*all)[1].badges == 0);
  CHECK((*all)[1].active_badges == 0);
  CHECK((*all)[1].person.roles.empty());
  CHECK((*all)[2].person.id == "cy");
  CHECK((*all)[2].badges == 1);
  CHECK((*all)[2].active_badges == 0);
  // Validity ends are inclusive; `now` decides.
  CHECK((*store->list_people("", 1, day(10)))[0].active_badges == 2);
  CHECK((*store->list_people("", 1, day(10, 1)))[0].active_badges == 1);
  CHECK((*store->list_people("", 1, day(20)))[0].active_badges == 2);

  // Keyset paging over many people, most without badges.
  for (int i = 0; i < 57; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "p%03d", i);
    REQUIRE(store->put_person(Person{id, "", {}}, day(0)).ok());
  }
  std::vector<std::string> ids;
  std::string after;
  for (;;) {
    auto page = store->list_people(after, 10, day(5));
    REQUIRE(page.ok());
    REQUIRE(page->size() <= 10);
    if (page->empty()) break;
    for (const auto& p : *page) ids.push_back(p.person.id);
    after = page->back().person.id;
  }
  CHECK(ids.size() == 60);
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  auto rest = store->list_people("p050", 100, day(5));
  REQUIRE(rest.ok());
  CHECK(rest->size() == 6);  // p051 .. p056
  CHECK(rest->front().person.id == "p051");

  auto bad = store->list_people("", 0, day(5));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::invalid_argument);
}

TEST_CASE("a badge's validity is set directly; holder, kind and revocation are kept", "[credentials]") {
  TempDir dir;
  const auto policy = test::sample_policy();
  auto store = open_store(dir);
  REQUIRE(store->put_person(Person{"ana", "Ana", {"employee"}}, day(0)).ok());
  Badge b;
  b.uid = "04A22BC1";
  b.person = "ana";
  b.kind = core::CredentialKind::desfire;
  b.valid_until = day(30);
  REQUIRE(store->add(b, day(0)).ok());

  REQUIRE(store->set_badge_validity("04:a2:2b:c1", day(1), day(60), day(2)).ok());
  auto info = store->find("04A22BC1");
  REQUIRE(info);
  CHECK(info->badge.valid_from == day(1));
  CHECK(info->badge.valid_until == day(60));
  CHECK(info->badge.person == "ana");
  CHECK(info->badge.kind == core::CredentialKind::desfire);
  CHECK(info->badge.updated_at == day(2));
  CHECK(info->badge.version == 0);
  CHECK(info->roles == std::vector<std::string>{"employee"});
  auto h = store->lookup("04A22BC1", policy);
  REQUIRE(h);
  CHECK(h->valid_from == day(1));
  CHECK(h->valid_until == day(60));

  // Unbounded both ways; a revoked badge stays revoked.
  REQUIRE(store->revoke("04A22BC1", day(3)).ok());
  REQUIRE(store->set_badge_validity("04A22BC1", std::nullopt, std::nullopt, day(4)).ok());
  info = store->find("04A22BC1");
  REQUIRE(info);
  CHECK_FALSE(info->badge.valid_from);
  CHECK_FALSE(info->badge.valid_until);
  CHECK(info->badge.revoked);

  auto unknown = store->set_badge_validity("0BADBAD0", std::nullopt, day(1), day(4));
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == Errc::not_found);
  auto reversed = store->set_badge_validity("04A22BC1", day(9), day(8), day(4));
  REQUIRE_FALSE(reversed.ok());
  CHECK(reversed.error().code == Errc::invalid_argument);
  auto malformed = store->set_badge_validity("not hex", std::nullopt, std::nullopt, day(4));
  REQUIRE_FALSE(malformed.ok());
  CHECK(malformed.error().code == Errc::invalid_argument);
  // Refusals changed nothing; an equal start and end (one instant) is allowed.
  info = store->find("04A22BC1");
  REQUIRE(info);
  CHECK_FALSE(info->badge.valid_until);
  CHECK(store->set_badge_validity("04A22BC1", day(9), day(9), day(5)).ok());
}

}  // namespace
}  // namespace zonegate::adapters::credentials
