// SPDX-License-Identifier: Apache-2.0
// Decision benchmark of the core engine: decisions per second and per-call latency with a large
// badge directory and many people on site. See bench/README.md for what it measures and how.
//
// The workload is generated once by driving a "shadow" engine with the same policy and initial
// state, so every follow-up (gate clear after a pending screening, door open and close after a
// grant, an escort after a contractor) reacts to what the engine really decided. The recorded
// script is then replayed on fresh engines in the timed runs; the engine is deterministic, so each
// run must produce exactly the decisions the shadow engine produced, and the program checks that.

#include <sched.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "config/loader.hpp"
#include "core/engine.hpp"
#include "core/events.hpp"
#include "core/policy.hpp"
#include "core/timezone.hpp"
#include "core/types.hpp"

namespace {

namespace zc = zonegate::core;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

struct Options {
  std::size_t people = 1'000'000;
  std::size_t located = 10'000;
  std::size_t events = 1'000'000;
  std::size_t runs = 5;
  std::string zones = "zones.yaml";
  int cpu = -1;  // -1: the first CPU this process may run on
  std::uint64_t seed = 20261201;
};

void usage(std::FILE* to) {
  std::fputs(
      "usage: decision_bench [--people N] [--located N] [--events N] [--runs N]\n"
      "                      [--zones PATH] [--cpu N|none] [--seed N]\n"
      "  --people N   badges enrolled in the directory (default 1000000)\n"
      "  --located N  people placed inside the site before the run (default 10000)\n"
      "  --events N   engine events per run (default 1000000)\n"
      "  --runs N     timed repetitions; medians are reported (default 5)\n"
      "  --zones PATH site policy to load (default zones.yaml)\n"
      "  --cpu N      pin to CPU N; 'none' to leave unpinned (default: first allowed CPU)\n"
      "  --seed N     workload seed (default 20261201)\n",
      to);
}

std::optional<std::uint64_t> parse_count(std::string_view s) {
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "decision_bench: %s: missing value\n", argv[i]);
      return std::nullopt;
    }
    const std::string_view val = argv[++i];
    if (arg == "--zones") {
      o.zones = std::string(val);
      continue;
    }
    if (arg == "--cpu" && val == "none") {
      o.cpu = -2;
      continue;
    }
    const auto n = parse_count(val);
    if (!n) {
      std::fprintf(stderr, "decision_bench: %s: expected a number, got '%s'\n", argv[i - 1], argv[i]);
      return std::nullopt;
    }
    if (arg == "--people")
      o.people = *n;
    else if (arg == "--located")
      o.located = *n;
    else if (arg == "--events")
      o.events = *n;
    else if (arg == "--runs")
      o.runs = *n;
    else if (arg == "--cpu")
      o.cpu = static_cast<int>(*n);
    else if (arg == "--seed")
      o.seed = *n;
    else {
      std::fprintf(stderr, "decision_bench: unknown option %s\n", argv[i - 1]);
      usage(stderr);
      return std::nullopt;
    }
  }
  if (o.people < 1000 || o.runs == 0 || o.events == 0) {
    std::fputs("decision_bench: need --people >= 1000, --runs >= 1, --events >= 1\n", stderr);
    return std::nullopt;
  }
  if (o.located > o.people / 2) {
    std::fputs("decision_bench: --located must be at most half of --people\n", stderr);
    return std::nullopt;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers (splitmix64: same sequence on every platform and compiler)
// ---------------------------------------------------------------------------------------------

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); the modulo bias is irrelevant at these sizes.
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
  // True with probability p.
  bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }

 private:
  std::uint64_t state_;
};

// ---------------------------------------------------------------------------------------------
// The site: the loaded policy and the names the workload needs
// ---------------------------------------------------------------------------------------------

struct Site {
  std::shared_ptr<const zc::Policy> policy;  // the copy with raised occupancy limits
  zc::ZoneIdx outside = 0, office = 0, view = 0;
  std::optional<zc::ZoneIdx> ops;
  zc::DoorIdx lobby = 0, view_door = 0;
  std::optional<zc::DoorIdx> ops_door;
  zc::RoleMask employee = 0, contractor = 0, viewer = 0, operator_ = 0, guard = 0;
  std::vector<std::string> raised;  // "office 400 -> 1000000" for the report
};

std::optional<zc::DoorIdx> door_between(const zc::Policy& p, zc::ZoneIdx outer, zc::ZoneIdx inner) {
  for (std::size_t i = 0; i < p.doors.size(); ++i) {
    if (p.doors[i].outer == outer && p.doors[i].inner == inner) return static_cast<zc::DoorIdx>(i);
  }
  return std::nullopt;
}

bool fail(const std::string& what) {
  std::fprintf(stderr, "decision_bench: %s\n", what.c_str());
  return false;
}

bool resolve_site(const zc::Policy& p, Site& s) {
  const auto zone = [&](const char* id, zc::ZoneIdx& out) {
    const auto z = p.zone_index(id);
    if (!z) return fail(std::string("the site has no zone '") + id + "'");
    out = *z;
    return true;
  };
  const auto role = [&](const char* id, zc::RoleMask& out) {
    const auto r = p.role_index(id);
    if (!r) return fail(std::string("the site has no role '") + id + "'");
    out = zc::RoleMask{1} << *r;
    return true;
  };
  if (!zone("office", s.office) || !zone("db-view", s.view)) return false;
  s.outside = p.zones[s.office].parent;
  if (s.outside == zc::kNoIdx) return fail("zone 'office' has no parent");
  if (const auto z = p.zone_index("db-ops")) s.ops = *z;
  if (!role("employee", s.employee) || !role("contractor", s.contractor) || !role("db-viewer", s.viewer) ||
      !role("db-operator", s.operator_) || !role("guard", s.guard)) {
    return false;
  }
  const auto lobby = door_between(p, s.outside, s.office);
  const auto view = door_between(p, s.office, s.view);
  if (!lobby) return fail("no door from the office's parent into 'office'");
  if (!view) return fail("no door from 'office' into 'db-view'");
  if (!p.doors[*view].gate) return fail("the door into 'db-view' has no gate");
  s.lobby = *lobby;
  s.view_door = *view;
  if (s.ops) s.ops_door = door_between(p, s.view, *s.ops);
  if (s.ops_door && !p.doors[*s.ops_door].gate) s.ops_door.reset();
  return true;
}

// ---------------------------------------------------------------------------------------------
// The badge directory: 1,000,000 people with a realistic mix of roles and cards
// ---------------------------------------------------------------------------------------------

enum class Cat : std::uint8_t {
  employee_uid,
  employee_desfire,
  contractor,
  viewer,
  operator_,
  guard,
  revoked,
  expired
};
constexpr std::size_t kCats = 8;
constexpr std::array<const char*, kCats> kCatNames = {"employee (UID card)",
                                                      "employee (DESFire)",
                                                      "contractor",
                                                      "db-viewer",
                                                      "db-operator",
                                                      "guard",
                                                      "revoked",
                                                      "expired"};

// Where the generator believes a person is: outside, or one of the three inside zones tracked.
constexpr std::uint8_t kOut = 0xFF;
enum Slot : std::uint8_t { s_office = 0, s_view = 1, s_ops = 2 };
constexpr std::size_t kSlots = 3;

struct Person {
  std::string badge;
  Cat cat = Cat::employee_uid;
  zc::CredentialKind card = zc::CredentialKind::uid;
  std::uint8_t slot = kOut;
  std::uint32_t pos = 0;  // index in the pool of its slot
};

struct Population {
  std::vector<Person> people;
  std::unordered_map<std::string, zc::Holder> directory;  // badge id -> holder, what the daemon looks up
  std::array<std::vector<std::uint32_t>, kCats> by_cat;
  std::array<std::size_t, kCats> count{};
};

std::string person_id(std::size_t i) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "p%07zu", i);
  return buf;
}

std::optional<std::size_t> person_index(std::string_view id) {
  if (id.size() < 2 || id[0] != 'p') return std::nullopt;
  std::size_t v = 0;
  const auto [ptr, ec] = std::from_chars(id.data() + 1, id.data() + id.size(), v);
  if (ec != std::errc{} || ptr != id.data() + id.size()) return std::nullopt;
  return v;
}

// A 7-byte card UID as the reader reports it: NXP cards start with 04, random foreign ones with 08.
std::string uid_text(std::uint8_t first, std::uint64_t bits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02X%012llX", first, static_cast<unsigned long long>(bits & 0xFFFF'FFFF'FFFFULL));
  return buf;
}

Population make_population(const Site& site, std::size_t n, zc::Instant start, Rng& rng) {
  Population pop;
  pop.people.resize(n);
  pop.directory.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Person& p = pop.people[i];
    zc::Holder h;
    h.person_id = person_id(i);
    const std::size_t r = rng.below(10000);
    if (r < 10) {
      p.cat = Cat::guard;
      h.roles = site.guard | site.employee;
    } else if (r < 30) {
      p.cat = Cat::operator_;
      h.roles = site.employee | site.viewer | site.operator_;
    } else if (r < 230) {
      p.cat = Cat::viewer;
      h.roles = site.employee | site.viewer;
    } else if (r < 730) {
      p.cat = Cat::contractor;
      h.roles = site.contractor;
      h.valid_until = start + std::chrono::days(90);
    } else if (r < 780) {
      p.cat = Cat::revoked;
      h.roles = site.employee;
      h.revoked = true;
    } else if (r < 810) {
      p.cat = Cat::expired;
      h.roles = site.contractor;
      h.valid_until = start - std::chrono::days(1);
    } else if (r < 3110) {
      p.cat = Cat::employee_desfire;
      h.roles = site.employee;
    } else {
      p.cat = Cat::employee_uid;
      h.roles = site.employee;
    }
    const bool desfire =
        p.cat == Cat::guard || p.cat == Cat::operator_ || p.cat == Cat::viewer || p.cat == Cat::employee_desfire;
    p.card = desfire ? zc::CredentialKind::desfire : zc::CredentialKind::uid;
    h.enrolled = p.card;
    if (rng.chance(0.5)) h.valid_from = start - std::chrono::days(1 + rng.below(3000));
    for (;;) {
      p.badge = uid_text(0x04, rng.next());
      if (pop.directory.try_emplace(p.badge, h).second) break;
    }
    pop.by_cat[static_cast<std::size_t>(p.cat)].push_back(static_cast<std::uint32_t>(i));
    ++pop.count[static_cast<std::size_t>(p.cat)];
  }
  return pop;
}

// ---------------------------------------------------------------------------------------------
// The script: engine inputs as the adapters would deliver them
// ---------------------------------------------------------------------------------------------

struct Step {
  zc::Instant at;
  enum class Kind : std::uint8_t { badge, gate, door } kind = Kind::badge;
  zc::Direction dir = zc::Direction::in;
  zc::CredentialKind card = zc::CredentialKind::uid;
  bool open = false;         // door: sensor reads open
  std::uint16_t target = 0;  // door or gate index
  std::string badge;         // badge: the id read from the card
};

using Directory = std::unordered_map<std::string, zc::Holder>;

// The daemon's work per badge read, before the engine: find the holder of the badge (null: not
// enrolled, or not a badge step).
inline const zc::Holder* lookup(const Step& s, const Directory& directory) {
  if (s.kind != Step::Kind::badge) return nullptr;
  const auto it = directory.find(s.badge);
  return it == directory.end() ? nullptr : &it->second;
}

// Builds the engine event for one step; a badge carries a copy of its holder.
inline zc::Event make_event(const Step& s, const zc::Holder* holder) {
  switch (s.kind) {
    case Step::Kind::badge: {
      zc::BadgePresented b;
      b.door = s.target;
      b.dir = s.dir;
      b.badge = s.badge;
      b.presented = s.card;
      if (holder != nullptr) b.holder = *holder;
      return zc::Event{std::move(b)};
    }
    case Step::Kind::gate:
      return zc::Event{zc::GateSignal{s.target, zc::GateSignalKind::clear}};
    case Step::Kind::door:
      break;
  }
  return zc::Event{zc::DoorSensor{s.target, s.open}};
}

// Verdict and reason of a decision, as one key for the histogram.
using Outcome = std::pair<zc::Verdict, zc::Reason>;

std::size_t count_decisions(const zc::Effects& fx) {
  std::size_t n = 0;
  for (const auto& r : fx.records) n += std::holds_alternative<zc::Decision>(r) ? 1 : 0;
  return n;
}

struct Placement {
  std::uint32_t person;
  zc::ZoneIdx zone;
};

void place_all(zc::Engine& engine, const Population& pop, const std::vector<Placement>& placements,
               std::size_t reserve) {
  engine.reserve_people(reserve);
  for (const Placement& pl : placements) {
    engine.place(pop.directory.at(pop.people[pl.person].badge).person_id, pl.zone);
  }
}

// Chooses who is inside before the run: a few operators in db-ops (within its real limit, at
// least two for the no-lone-zone rule), 2 % of the located people in db-view (viewers and
// operators), and everyone else in the office, drawn uniformly from all valid badge holders.
std::vector<Placement> choose_placements(const Site& site, const Population& pop, std::size_t located, Rng& rng) {
  const auto count = [&](Cat c) { return pop.count[static_cast<std::size_t>(c)]; };
  std::size_t ops_n = 0;
  if (site.ops_door) {
    const std::uint32_t max = site.policy->zones[*site.ops].max_occupancy;
    ops_n = std::min<std::size_t>(
        {max == 0 ? 4 : std::max<std::uint32_t>(2, max / 2), located / 4, count(Cat::operator_) / 4});
  }
  const std::size_t view_n = std::min<std::size_t>(located / 50, (count(Cat::viewer) + count(Cat::operator_)) / 4);
  const std::size_t office_n = located - ops_n - view_n;

  std::vector<Placement> out;
  std::vector<bool> taken(pop.people.size(), false);
  // Places a random member of `from` who is not placed yet (small populations may run out).
  const auto put_one_of = [&](const std::vector<std::uint32_t>& from, zc::ZoneIdx z) {
    for (int tries = 0; tries < 1000 && !from.empty(); ++tries) {
      const std::uint32_t i = from[rng.below(from.size())];
      if (taken[i]) continue;
      taken[i] = true;
      out.push_back(Placement{i, z});
      return;
    }
  };
  for (std::size_t k = 0; k < ops_n; ++k) put_one_of(pop.by_cat[static_cast<std::size_t>(Cat::operator_)], *site.ops);
  for (std::size_t k = 0; k < view_n; ++k) {
    const Cat c = rng.chance(0.9) ? Cat::viewer : Cat::operator_;
    put_one_of(pop.by_cat[static_cast<std::size_t>(c)], site.view);
  }
  for (std::size_t k = 0; k < office_n; ++k) {
    for (;;) {
      const auto i = static_cast<std::uint32_t>(rng.below(pop.people.size()));
      const Cat c = pop.people[i].cat;
      if (taken[i] || c == Cat::revoked || c == Cat::expired) continue;
      taken[i] = true;
      out.push_back(Placement{i, site.office});
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Workload generator
// ---------------------------------------------------------------------------------------------

class Generator {
 public:
  Generator(const Site& site, Population& pop, zc::Instant start, std::uint64_t seed)
      : site_(site), pop_(pop), shadow_(site.policy), now_(start), rng_(seed) {
    slot_of_zone_.assign(site.policy->zones.size(), kOut);
    slot_of_zone_[site.office] = s_office;
    slot_of_zone_[site.view] = s_view;
    if (site.ops) slot_of_zone_[*site.ops] = s_ops;
  }

  // Takes over the initial placement: pools, targets and the shadow engine's state.
  void start(const std::vector<Placement>& placements, std::size_t reserve) {
    for (const Placement& pl : placements) {
      const std::uint8_t slot = slot_of_zone_[pl.zone];
      move_to(pl.person, slot);
      if (slot != kOut) ++target_[slot][static_cast<std::size_t>(pop_.people[pl.person].cat)];
    }
    place_all(shadow_, pop_, placements, reserve);
  }
  // Generates patterns until the script holds `events` steps. The last pattern may be cut short:
  // emit() ignores steps past the end, so the shadow engine never sees a step the script lacks.
  std::vector<Step> generate(std::size_t events) {
    limit_ = events;
    script_.reserve(events);
    while (script_.size() < events) one_pattern();
    return std::move(script_);
  }

  // Decisions per (verdict, reason) in the script as generated.
  const std::map<Outcome, std::size_t>& outcomes() const { return outcomes_; }
  std::size_t decisions() const { return decisions_; }
  const std::map<std::string, std::size_t>& patterns() const { return patterns_; }
  zc::Instant now() const { return now_; }

 private:
  // Moves person i into a slot (or out) in the generator's own bookkeeping.
  void move_to(std::uint32_t i, std::uint8_t slot) {
    Person& p = pop_.people[i];
    if (p.slot == slot) return;
    if (p.slot != kOut) {
      auto& pool = pools_[p.slot][static_cast<std::size_t>(p.cat)];
      const std::uint32_t last = pool.back();
      pool[p.pos] = last;
      pop_.people[last].pos = p.pos;
      pool.pop_back();
    }
    p.slot = slot;
    if (slot != kOut) {
      auto& pool = pools_[slot][static_cast<std::size_t>(p.cat)];
      p.pos = static_cast<std::uint32_t>(pool.size());
      pool.push_back(i);
    }
  }

  std::size_t in_slot(Slot s, std::initializer_list<Cat> cats) const {
    std::size_t n = 0;
    for (Cat c : cats) n += pools_[s][static_cast<std::size_t>(c)].size();
    return n;
  }

  std::size_t target(Slot s, std::initializer_list<Cat> cats) const {
    std::size_t n = 0;
    for (Cat c : cats) n += target_[s][static_cast<std::size_t>(c)];
    return n;
  }

  std::optional<std::uint32_t> pick_in(Slot s, std::initializer_list<Cat> cats) {
    const std::size_t n = in_slot(s, cats);
    if (n == 0) return std::nullopt;
    std::size_t k = rng_.below(n);
    for (Cat c : cats) {
      const auto& pool = pools_[s][static_cast<std::size_t>(c)];
      if (k < pool.size()) return pool[k];
      k -= pool.size();
    }
    return std::nullopt;
  }

  std::optional<std::uint32_t> pick_outside(Cat c) {
    const auto& v = pop_.by_cat[static_cast<std::size_t>(c)];
    for (int tries = 0; tries < 1000 && !v.empty(); ++tries) {
      const std::uint32_t i = v[rng_.below(v.size())];
      if (pop_.people[i].slot == kOut) return i;
    }
    return std::nullopt;  // only in tiny populations
  }

  // Probability of choosing the inward pattern so that a zone's head count wanders around its
  // starting value instead of drifting.
  bool choose_in(std::size_t current, std::size_t target) {
    const double t = static_cast<double>(std::max<std::size_t>(target, 8));
    const double p = 0.5 + (t - static_cast<double>(current)) / t;
    return rng_.chance(std::clamp(p, 0.05, 0.95));
  }

  // Applies one step to the shadow engine, records it and what it decided.
  void emit(Step s) {
    if (script_.size() >= limit_) return;
    s.at = now_;
    fx_.clear();
    shadow_.handle(make_event(s, lookup(s, pop_.directory)), now_, fx_);
    for (const auto& r : fx_.records) {
      if (const auto* d = std::get_if<zc::Decision>(&r)) {
        ++decisions_;
        ++outcomes_[{d->verdict, d->reason}];
        last_.emplace_back(d->verdict, d->reason);
      } else if (const auto* n = std::get_if<zc::Note>(&r); n != nullptr && n->kind == "moved") {
        const auto zone = site_.policy->zone_index(n->subject);
        const auto who = person_index(n->person);
        if (zone && who && *who < pop_.people.size()) move_to(static_cast<std::uint32_t>(*who), slot_of_zone_[*zone]);
      }
    }
    script_.push_back(std::move(s));
    now_ += zc::Duration{1 + static_cast<std::int64_t>(rng_.below(5))};  // 1..5 ms between events
  }

  void badge(std::uint32_t i, zc::DoorIdx door, zc::Direction dir) {
    Step s;
    s.kind = Step::Kind::badge;
    s.target = door;
    s.dir = dir;
    s.badge = pop_.people[i].badge;
    s.card = pop_.people[i].card;
    emit(std::move(s));
  }

  void unknown_badge(zc::DoorIdx door) {
    Step s;
    s.kind = Step::Kind::badge;
    s.target = door;
    s.badge = uid_text(0x08, rng_.next());
    emit(std::move(s));
  }

  // What follows the badges of one pattern: one gate clear per member waiting for screening, then
  // the door opens (the grants are used, people move) and closes (the strike relocks).
  void follow_up(zc::DoorIdx door) {
    const auto waiting = [&] {
      return static_cast<std::size_t>(
          std::count(last_.begin(), last_.end(), Outcome{zc::Verdict::pending, zc::Reason::screening}));
    };
    const std::size_t clears = waiting();
    const auto& d = site_.policy->doors[door];
    for (std::size_t k = 0; k < clears && d.gate; ++k) {
      Step s;
      s.kind = Step::Kind::gate;
      s.target = d.gate->gate;
      emit(std::move(s));
    }
    const bool granted =
        std::any_of(last_.begin(), last_.end(), [](const Outcome& o) { return o.first == zc::Verdict::grant; });
    if (!granted) return;
    for (const bool open : {true, false}) {
      Step s;
      s.kind = Step::Kind::door;
      s.target = door;
      s.open = open;
      emit(std::move(s));
    }
  }

  void count_pattern(const char* name) { ++patterns_[name]; }

  void unknown_pattern() {
    count_pattern("lobby, unknown badge");
    unknown_badge(site_.lobby);
  }

  // One pattern of the weekday 10:00 mix; weights are per 100 patterns.
  void one_pattern() {
    last_.clear();
    const zc::Direction in = zc::Direction::in;
    const zc::Direction out = zc::Direction::out;
    std::size_t r = rng_.below(100);
    const auto take = [&](std::size_t w) {
      if (r < w) return true;
      r -= w;
      return false;
    };
    const std::initializer_list<Cat> staff = {Cat::employee_uid, Cat::employee_desfire, Cat::viewer, Cat::operator_,
                                              Cat::guard};
    if (take(60)) {
      // Staff through the lobby, in or out.
      const std::size_t office = in_slot(s_office, staff);
      if (choose_in(office, target(s_office, staff)) || office == 0) {
        const std::size_t c = rng_.below(100);
        const Cat cat = c < 74 ? Cat::employee_uid : c < 98 ? Cat::employee_desfire : c < 99 ? Cat::viewer : Cat::guard;
        const auto who = pick_outside(cat);
        if (!who) return unknown_pattern();
        count_pattern("lobby in (staff)");
        badge(*who, site_.lobby, in);
      } else {
        count_pattern("lobby out (staff)");
        badge(*pick_in(s_office, staff), site_.lobby, out);
      }
      follow_up(site_.lobby);
    } else if (take(4)) {
      // Contractors: in with an escort who badges after them, out on their own.
      const std::size_t inside = in_slot(s_office, {Cat::contractor});
      if (choose_in(inside, target(s_office, {Cat::contractor})) || inside == 0) {
        const auto who = pick_outside(Cat::contractor);
        if (!who) return unknown_pattern();
        count_pattern("lobby in (contractor + escort)");
        badge(*who, site_.lobby, in);
        const auto escort = pick_outside(Cat::employee_desfire);
        if (escort && !last_.empty() && last_.back() == Outcome{zc::Verdict::pending, zc::Reason::escort_required}) {
          badge(*escort, site_.lobby, in);
        }
      } else {
        count_pattern("lobby out (contractor)");
        badge(*pick_in(s_office, {Cat::contractor}), site_.lobby, out);
      }
      follow_up(site_.lobby);
    } else if (take(2)) {
      // Soft anti-passback: someone who left behind a colleague without badging badges in again.
      const auto who = pick_in(s_office, staff);
      if (!who) return unknown_pattern();
      count_pattern("lobby in, already inside (anti-passback)");
      badge(*who, site_.lobby, in);
      follow_up(site_.lobby);
    } else if (take(3)) {
      unknown_pattern();
    } else if (take(1)) {
      const auto who = pick_outside(Cat::revoked);
      if (!who) return unknown_pattern();
      count_pattern("lobby, revoked badge");
      badge(*who, site_.lobby, in);
    } else if (take(1)) {
      const auto who = pick_outside(Cat::expired);
      if (!who) return unknown_pattern();
      count_pattern("lobby, expired badge");
      badge(*who, site_.lobby, in);
    } else if (take(2)) {
      // Outside clearance: office staff trying the viewing-area door.
      const auto who = pick_in(s_office, {Cat::employee_desfire, Cat::employee_uid});
      if (!who) return unknown_pattern();
      count_pattern("view door, employee without clearance");
      badge(*who, site_.view_door, in);
      follow_up(site_.view_door);
    } else if (take(site_.ops_door ? 24 : 27)) {
      // The viewing area: badge, screening pending, gate clear, grant, door open and close.
      const std::size_t inside = in_slot(s_view, {Cat::viewer, Cat::operator_});
      const auto from_office = pick_in(s_office, {Cat::viewer, Cat::operator_});
      if (from_office && (choose_in(inside, target(s_view, {Cat::viewer, Cat::operator_})) || inside == 0)) {
        count_pattern("view door in (screened)");
        badge(*from_office, site_.view_door, in);
      } else if (inside > 0) {
        count_pattern("view door out (screened)");
        badge(*pick_in(s_view, {Cat::viewer, Cat::operator_}), site_.view_door, out);
      } else {
        const auto who = pick_outside(Cat::viewer);
        if (!who) return unknown_pattern();
        count_pattern("lobby in (staff)");
        badge(*who, site_.lobby, in);
        follow_up(site_.lobby);
        return;
      }
      follow_up(site_.view_door);
    } else {
      ops_pattern();
    }
  }

  // The operation area: two operators enter together (two-person rule), leave one at a time while
  // at least two stay, or the last two leave together (no-lone-zone).
  void ops_pattern() {
    const zc::DoorIdx door = *site_.ops_door;
    const std::size_t inside = in_slot(s_ops, {Cat::operator_});
    const std::size_t waiting = in_slot(s_view, {Cat::operator_});
    const std::uint32_t max = site_.policy->zones[*site_.ops].max_occupancy;
    const bool room = max == 0 || inside + 2 <= max;
    if (waiting >= 2 && room && (choose_in(inside, target(s_ops, {Cat::operator_})) || inside < 2)) {
      count_pattern("ops door in, two operators (screened)");
      const std::uint32_t a = *pick_in(s_view, {Cat::operator_});
      std::uint32_t b = a;
      while (b == a) b = *pick_in(s_view, {Cat::operator_});
      badge(a, door, zc::Direction::in);
      badge(b, door, zc::Direction::in);
    } else if (inside >= 3) {
      count_pattern("ops door out, one operator (screened)");
      badge(*pick_in(s_ops, {Cat::operator_}), door, zc::Direction::out);
    } else if (inside == 2) {
      count_pattern("ops door out, last two operators (screened)");
      const auto& pool = pools_[s_ops][static_cast<std::size_t>(Cat::operator_)];
      const std::uint32_t a = pool[0];
      const std::uint32_t b = pool[1];
      badge(a, door, zc::Direction::out);
      badge(b, door, zc::Direction::out);
    } else {
      return unknown_pattern();
    }
    follow_up(door);
  }

  const Site& site_;
  Population& pop_;
  zc::Engine shadow_;
  zc::Effects fx_;
  zc::Instant now_;
  Rng rng_;
  std::vector<std::uint8_t> slot_of_zone_;
  std::array<std::array<std::vector<std::uint32_t>, kCats>, kSlots> pools_;
  std::array<std::array<std::size_t, kCats>, kSlots> target_{};  // head counts at the start
  std::vector<Step> script_;
  std::size_t limit_ = 0;
  std::vector<Outcome> last_;  // decisions of the current pattern
  std::map<Outcome, std::size_t> outcomes_;
  std::map<std::string, std::size_t> patterns_;
  std::size_t decisions_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Timed runs
// ---------------------------------------------------------------------------------------------

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;  // nanoseconds
};

// Nearest-rank percentiles.
Percentiles percentiles(std::vector<std::uint32_t> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return static_cast<double>(v[std::clamp<std::size_t>(rank, 1, v.size()) - 1]);
  };
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = static_cast<double>(v.back());
  return p;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct RunResult {
  std::size_t decisions = 0;
  std::size_t decision_calls = 0;
  double seconds = 0;          // wall time of the whole replay loop
  double cpu_seconds = 0;      // CPU time of this thread in the loop: excludes time other processes ran
  long preempted = 0;          // involuntary context switches during the loop
  double decisions_per_s = 0;  // per wall second
  double decisions_per_cpu_s = 0;
  double events_per_s = 0;
  Percentiles decision;  // calls that produced at least one decision
  Percentiles all;       // every call
  Percentiles lookup;    // the directory lookup alone, badge calls
  std::map<Outcome, std::size_t> outcomes;
};

// Out of line so that a profile can select it: valgrind --tool=callgrind --toggle-collect='*run_once*'.
[[gnu::noinline]] RunResult run_once(const Site& site, const Population& pop, const std::vector<Placement>& placements,
                                     std::size_t reserve, const std::vector<Step>& script) {
  zc::Engine engine(site.policy);
  place_all(engine, pop, placements, reserve);
  zc::Effects fx;  // reused for every call, as the daemon does
  fx.records.reserve(64);
  fx.commands.reserve(16);
  std::vector<std::uint32_t> lat_all(script.size());
  std::vector<std::uint8_t> decided(script.size());
  const auto& directory = pop.directory;

  std::vector<std::uint32_t> lat_lookup;
  lat_lookup.reserve(script.size());
  rusage ru0{};
  getrusage(RUSAGE_THREAD, &ru0);
  const double cpu0 = thread_cpu_seconds();
  const auto wall0 = Clock::now();
  for (std::size_t k = 0; k < script.size(); ++k) {
    const Step& s = script[k];
    const auto t0 = Clock::now();
    const zc::Holder* holder = lookup(s, directory);
    const auto tm = Clock::now();  // splits off the directory's share; costs one clock read (~20 ns)
    {
      const zc::Event ev = make_event(s, holder);
      engine.handle(ev, s.at, fx);
    }
    const auto t1 = Clock::now();
    if (s.kind == Step::Kind::badge) {
      lat_lookup.push_back(static_cast<std::uint32_t>(
          std::min<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(tm - t0).count(), UINT32_MAX)));
    }
    lat_all[k] = static_cast<std::uint32_t>(
        std::min<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count(), UINT32_MAX));
    decided[k] = static_cast<std::uint8_t>(std::min<std::size_t>(count_decisions(fx), 255));
    fx.clear();
  }
  const auto wall1 = Clock::now();
  const double cpu1 = thread_cpu_seconds();
  rusage ru1{};
  getrusage(RUSAGE_THREAD, &ru1);

  RunResult r;
  r.seconds = std::chrono::duration<double>(wall1 - wall0).count();
  r.cpu_seconds = cpu1 - cpu0;
  r.preempted = ru1.ru_nivcsw - ru0.ru_nivcsw;
  std::vector<std::uint32_t> lat_dec;
  lat_dec.reserve(script.size());
  for (std::size_t k = 0; k < script.size(); ++k) {
    if (decided[k] == 0) continue;
    r.decisions += decided[k];
    ++r.decision_calls;
    lat_dec.push_back(lat_all[k]);
  }
  r.decisions_per_s = static_cast<double>(r.decisions) / r.seconds;
  r.decisions_per_cpu_s = static_cast<double>(r.decisions) / r.cpu_seconds;
  r.events_per_s = static_cast<double>(script.size()) / r.seconds;
  r.decision = percentiles(std::move(lat_dec));
  r.all = percentiles(std::move(lat_all));
  r.lookup = percentiles(std::move(lat_lookup));
  return r;
}

// A second, untimed replay that records every decision's outcome, to prove the timed runs did what
// the generator saw (the engine is deterministic).
std::map<Outcome, std::size_t> replay_outcomes(const Site& site, const Population& pop,
                                               const std::vector<Placement>& placements, std::size_t reserve,
                                               const std::vector<Step>& script) {
  zc::Engine engine(site.policy);
  place_all(engine, pop, placements, reserve);
  zc::Effects fx;
  std::map<Outcome, std::size_t> out;
  for (const Step& s : script) {
    engine.handle(make_event(s, lookup(s, pop.directory)), s.at, fx);
    for (const auto& rec : fx.records) {
      if (const auto* d = std::get_if<zc::Decision>(&rec)) ++out[{d->verdict, d->reason}];
    }
    fx.clear();
  }
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

std::string us(double ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f us", ns / 1000.0);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Set-up helpers
// ---------------------------------------------------------------------------------------------

// The first weekday (Mon-Fri, not a site holiday) on or after 2026-12-01, at 10:00 site time.
zc::Instant weekday_ten(const zc::Policy& p) {
  std::int32_t day = zc::days_from_civil(2026, 12, 1);
  while (zc::weekday_from_days(day) > 4 || p.is_holiday(day)) ++day;
  const std::int64_t local = static_cast<std::int64_t>(day) * 86400 + 10 * 3600;
  zc::Instant t{std::chrono::seconds(local)};
  t -= std::chrono::seconds(p.time_zone.offset_at(t));
  t = zc::Instant{std::chrono::seconds(local)} - std::chrono::seconds(p.time_zone.offset_at(t));
  return t;
}

int pin_cpu(int wanted) {
  if (wanted == -2) return -1;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  int cpu = wanted;
  if (cpu < 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) {
        cpu = c;
        break;
      }
    }
  }
  if (cpu < 0) return -1;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    std::fprintf(stderr, "decision_bench: cannot pin to CPU %d: %s (running unpinned)\n", cpu, std::strerror(errno));
    return -1;
  }
  return cpu;
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

int main(int argc, char** argv) {
  const auto opts = parse_options(argc, argv);
  if (!opts) return 2;
  const int cpu = pin_cpu(opts->cpu);

  // --- the site -------------------------------------------------------------------------------
  const auto loaded = zonegate::config::load_policy_file(opts->zones);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "decision_bench: cannot load %s\n", opts->zones.c_str());
    return 1;
  }
  Site site;
  if (!resolve_site(*loaded.policy, site)) return 1;

  // The sample site's occupancy limits (office 400, db-view 20) are far below 10,000 people on
  // site: raise, in a copy, every limit that the located people would exceed. The limits stay
  // finite so the engine still runs its occupancy check on every entry.
  auto policy = std::make_shared<zc::Policy>(*loaded.policy);
  const zc::Instant start = weekday_ten(*policy);
  Rng rng(opts->seed);

  const auto t_setup = Clock::now();
  Population pop = make_population(site, opts->people, start, rng);
  const double setup_directory_s = seconds_since(t_setup);

  // Choose who is inside, then raise (in the copy) every limit the located people would exceed.
  const auto t_gen = Clock::now();
  site.policy = policy;
  const std::vector<Placement> placed = choose_placements(site, pop, opts->located, rng);
  {
    std::vector<std::size_t> inside(policy->zones.size(), 0);
    for (const Placement& pl : placed) {
      for (zc::ZoneIdx z = pl.zone; z != zc::kNoIdx; z = policy->zones[z].parent) ++inside[z];
    }
    for (std::size_t z = 0; z < policy->zones.size(); ++z) {
      auto& zone = policy->zones[z];
      // A zone whose head count wanders around its start needs head room; the operation area is
      // kept within its real limit by the workload.
      if (zone.max_occupancy == 0 || 2 * inside[z] <= zone.max_occupancy || (site.ops && z == *site.ops)) continue;
      const auto raised = static_cast<std::uint32_t>(std::max<std::size_t>(opts->people, 4 * inside[z]));
      site.raised.push_back(zone.id + " " + std::to_string(zone.max_occupancy) + " -> " + std::to_string(raised));
      zone.max_occupancy = raised;
    }
  }
  const std::size_t reserve = opts->people;  // the daemon knows the size of its directory

  Generator gen(site, pop, start, rng.next());
  gen.start(placed, reserve);
  const std::vector<Step> script = gen.generate(opts->events);
  const double setup_script_s = seconds_since(t_gen);

  // --- report the set-up ----------------------------------------------------------------------
  const zc::Policy& p = *site.policy;
  std::printf("zonegate decision benchmark\n");
  std::printf("site             %s: '%s', %zu zones, %zu doors, %zu roles, time zone %s\n", opts->zones.c_str(),
              p.site_name.c_str(), p.zones.size(), p.doors.size(), p.roles.size(), p.time_zone.name().c_str());
  std::printf("policy copy      max_occupancy raised:");
  if (site.raised.empty()) std::printf(" none");
  for (const auto& r : site.raised) std::printf(" [%s]", r.c_str());
  std::printf("\n");
  const zc::LocalTime lt = p.time_zone.local(start);
  static constexpr std::array<const char*, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  std::printf("simulated time   %s (%s %02d:%02d local) to %s, 1-5 ms between events\n", zc::format_utc(start).c_str(),
              kDays[lt.weekday], lt.minute_of_day / 60, lt.minute_of_day % 60, zc::format_utc(gen.now()).c_str());
  if (cpu >= 0)
    std::printf("cpu              pinned to CPU %d\n", cpu);
  else
    std::printf("cpu              not pinned\n");
  std::printf("people enrolled  %zu (", pop.people.size());
  for (std::size_t c = 0; c < kCats; ++c) std::printf("%s%s %zu", c ? ", " : "", kCatNames[c], pop.count[c]);
  std::printf(")\n");
  std::size_t in_office = 0, in_view = 0, in_ops = 0;
  for (const Placement& pl : placed) {
    in_office += pl.zone == site.office ? 1 : 0;
    in_view += pl.zone == site.view ? 1 : 0;
    in_ops += site.ops && pl.zone == *site.ops ? 1 : 0;
  }
  std::printf("people located   %zu (office %zu, db-view %zu, db-ops %zu)\n", placed.size(), in_office, in_view,
              in_ops);
  std::printf("set-up           directory %.2f s, workload generation %.2f s\n", setup_directory_s, setup_script_s);
  std::printf("events per run   %zu\n", script.size());
  std::printf("decisions        %zu per run\n", gen.decisions());
  std::printf("workload (patterns):\n");
  for (const auto& [name, n] : gen.patterns()) std::printf("  %-46s %9zu\n", name.c_str(), n);
  std::printf("decisions by verdict and reason:\n");
  for (const auto& [o, n] : gen.outcomes()) {
    std::printf("  %-8s %-22s %9zu\n", std::string(zc::to_string(o.first)).c_str(),
                std::string(zc::to_string(o.second)).c_str(), n);
  }

  // --- timed runs -----------------------------------------------------------------------------
  if (replay_outcomes(site, pop, placed, reserve, script) != gen.outcomes()) {
    std::fprintf(stderr, "decision_bench: replay does not reproduce the generated decisions\n");
    return 1;
  }
  std::printf("latency per call: steady_clock from before the directory lookup to after Engine::handle returns\n");
  std::printf("%-4s %12s %12s %9s %9s %9s %9s %9s %11s %9s\n", "run", "decisions/s", "per CPU-s", "p50", "p90", "p99",
              "p99.9", "max", "all p50/p99", "preempted");
  std::vector<RunResult> results;
  for (std::size_t i = 0; i < opts->runs; ++i) {
    RunResult r = run_once(site, pop, placed, reserve, script);
    if (r.decisions != gen.decisions()) {
      std::fprintf(stderr, "decision_bench: run %zu made %zu decisions, expected %zu\n", i + 1, r.decisions,
                   gen.decisions());
      return 1;
    }
    std::printf("%-4zu %12.0f %12.0f %9s %9s %9s %9s %9s %5.2f/%4.2f %9ld\n", i + 1, r.decisions_per_s,
                r.decisions_per_cpu_s, us(r.decision.p50).c_str(), us(r.decision.p90).c_str(),
                us(r.decision.p99).c_str(), us(r.decision.p999).c_str(), us(r.decision.max).c_str(), r.all.p50 / 1000.0,
                r.all.p99 / 1000.0, r.preempted);
    results.push_back(std::move(r));
  }

  const auto med = [&](auto field) {
    std::vector<double> v;
    for (const RunResult& r : results) v.push_back(field(r));
    return median(std::move(v));
  };
  const double dps = med([](const RunResult& r) { return r.decisions_per_s; });
  const double dpcs = med([](const RunResult& r) { return r.decisions_per_cpu_s; });
  const double cpu_share = med([](const RunResult& r) { return r.cpu_seconds / r.seconds; });
  const double preempted = med([](const RunResult& r) { return static_cast<double>(r.preempted); });
  const double eps = med([](const RunResult& r) { return r.events_per_s; });
  const double p50 = med([](const RunResult& r) { return r.decision.p50; });
  const double p90 = med([](const RunResult& r) { return r.decision.p90; });
  const double p99 = med([](const RunResult& r) { return r.decision.p99; });
  const double p999 = med([](const RunResult& r) { return r.decision.p999; });
  const double mx = med([](const RunResult& r) { return r.decision.max; });
  const double all50 = med([](const RunResult& r) { return r.all.p50; });
  const double all99 = med([](const RunResult& r) { return r.all.p99; });
  const double lk50 = med([](const RunResult& r) { return r.lookup.p50; });
  const double lk99 = med([](const RunResult& r) { return r.lookup.p99; });

  std::printf("\nmedian of %zu runs\n", results.size());
  std::printf("  people enrolled        %zu\n", pop.people.size());
  std::printf("  people located         %zu\n", placed.size());
  std::printf("  events                 %zu per run\n", script.size());
  std::printf("  decisions              %zu per run, in %zu calls\n", results.front().decisions,
              results.front().decision_calls);
  std::printf("  decisions/s, wall      %.0f   (target >= 200000: %s)\n", dps, dps >= 200000 ? "met" : "NOT met");
  std::printf("  decisions/CPU-second   %.0f   (target >= 200000: %s)\n", dpcs, dpcs >= 200000 ? "met" : "NOT met");
  std::printf("  events/s, wall         %.0f\n", eps);
  std::printf("  CPU share of the loop  %.0f %% (preempted %.0f times per run)\n", 100.0 * cpu_share, preempted);
  std::printf("  decision latency p50   %s\n", us(p50).c_str());
  std::printf("  decision latency p90   %s\n", us(p90).c_str());
  std::printf("  decision latency p99   %s   (target <= 5 us: %s)\n", us(p99).c_str(), p99 <= 5000 ? "met" : "NOT met");
  std::printf("  decision latency p99.9 %s\n", us(p999).c_str());
  std::printf("  decision latency max   %s\n", us(mx).c_str());
  std::printf("  any event p50 / p99    %s / %s\n", us(all50).c_str(), us(all99).c_str());
  std::printf("  of a badge call, the directory lookup alone p50 / p99  %s / %s\n", us(lk50).c_str(), us(lk99).c_str());
  std::printf("  peak RSS               %.1f MiB\n", peak_rss_mib());
  return 0;
}
