// SPDX-License-Identifier: Apache-2.0
#include "config/loader.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <new>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "config/hardware_section.hpp"
#include "config/reader.hpp"
#include "config/tzif.hpp"
#include "config/yaml_tree.hpp"

namespace zonegate::config {

std::string ConfigError::to_string() const {
  std::string out;
  out.reserve(file.size() + key.size() + message.size() + 24);
  out += file;
  out += ':';
  out += std::to_string(line);
  out += ':';
  out += std::to_string(column);
  out += ": ";
  out += key;
  out += ": ";
  out += message;
  return out;
}

namespace {

using namespace detail;
using namespace std::chrono_literals;

// Zone, door, gate, schedule and interlock indices are 16-bit with 0xFFFF reserved; a site is far
// smaller than this.
constexpr std::size_t kMaxTableSize = 4000;
constexpr std::size_t kMaxSiteNameLength = 128;
constexpr std::uint32_t kMaxOccupancy = 1000000;
constexpr off_t kMaxFileBytes = 16 * 1024 * 1024;

std::string format_time(std::int32_t minute) {
  const std::int32_t h = minute / 60;
  const std::int32_t m = minute % 60;
  std::string out;
  out += static_cast<char>('0' + h / 10);
  out += static_cast<char>('0' + h % 10);
  out += ':';
  out += static_cast<char>('0' + m / 10);
  out += static_cast<char>('0' + m % 10);
  return out;
}

constexpr std::array<std::string_view, 7> kDayNames = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

constexpr std::array<Choice<core::AntiPassback>, 3> kAntiPassback = {{
    {"off", core::AntiPassback::off},
    {"soft", core::AntiPassback::soft},
    {"hard", core::AntiPassback::hard},
}};
constexpr std::array<Choice<core::CredentialKind>, 2> kCredential = {{
    {"uid", core::CredentialKind::uid},
    {"desfire", core::CredentialKind::desfire},
}};
constexpr std::array<Choice<core::Direction>, 2> kDirection = {{
    {"in", core::Direction::in},
    {"out", core::Direction::out},
}};
constexpr std::array<Choice<core::LoneZoneMode>, 2> kLoneZoneMode = {{
    {"deny", core::LoneZoneMode::deny},
    {"alarm", core::LoneZoneMode::alarm},
}};
constexpr std::array<Choice<bool>, 2> kHolidayMode = {{
    {"closed", false},
    {"open", true},
}};
constexpr std::array<Choice<core::Capability>, 4> kCapability = {{
    {"forgive", core::Capability::forgive},
    {"release", core::Capability::release},
    {"lockdown", core::Capability::lockdown},
    {"unlock", core::Capability::unlock},
}};
constexpr std::array<Choice<std::uint8_t>, 10> kDays = {{
    {"mon", 0x01},
    {"tue", 0x02},
    {"wed", 0x04},
    {"thu", 0x08},
    {"fri", 0x10},
    {"sat", 0x20},
    {"sun", 0x40},
    {"weekdays", 0x1F},
    {"weekend", 0x60},
    {"daily", 0x7F},
}};

/// Door timings; `defaults:` overrides the built-in values and a door may override some again.
struct Timings {
  Duration unlock{5000};
  Duration held_prealarm{20000};
  Duration held_alarm{30000};
  Duration screening{15000};
  Duration two_person{15000};
  Duration escort{15000};
  Duration lone_zone{15000};
};

struct ZoneSource {
  std::string id;
  Item item;
  const Item* parent_item = nullptr;  // points into `fields`
  Fields fields;
  std::optional<std::size_t> parent;  // source index of the parent zone
  const Item* max_occupancy_item = nullptr;
  core::Zone zone;
};

struct EscortUse {
  Item item;                // the escort_by element
  std::size_t escort_role;  // role that would escort
  std::size_t zone;         // policy zone index
};

// ------------------------------------------------------------------------------------------------
// The compiler: one pass over the tree per section, errors collected as it goes
// ------------------------------------------------------------------------------------------------

class Compiler : private Reader {
 public:
  Compiler(std::string_view text, const std::string& file, const TimeZoneLoader& tz)
      : Reader(file), text_(text), tz_(tz) {}

  LoadResult run() {
    LoadResult result;
    YamlParseResult parsed = parse_yaml(text_);
    if (!parsed.ok) {
      error(parsed.error_mark, "", printable(parsed.error, 300));  // yaml-cpp quotes the offending byte
      result.errors = std::move(errors_);
      return result;
    }
    try {
      compile(parsed.document.root());
    } catch (const TooManyErrors&) {
      // enough to read; the rest of the file is not checked
    }
    if (errors_.empty()) {
      policy_.source_hash = sha256_hex(text_);
      if (policy_.source_hash.empty()) error(SourceMark{}, "", "cannot compute the SHA-256 of the file");
    }
    std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    if (overflow_) {
      const ConfigError& last = errors_.back();
      errors_.push_back(ConfigError{file_, last.line, last.column, "",
                                    "too many errors; stopped after the first " + std::to_string(kMaxErrors)});
    }
    if (errors_.empty()) {
      policy_.finalize();
      result.policy = std::make_shared<const core::Policy>(std::move(policy_));
      result.hardware = std::make_shared<const HardwareConfig>(std::move(hardware_));
      result.daemon = std::make_shared<const DaemonSettings>(std::move(daemon_));
    }
    result.errors = std::move(errors_);
    return result;
  }

  static std::string sha256_hex(std::string_view bytes) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) return {};
    static constexpr std::string_view kHex = "0123456789abcdef";
    std::string out;
    out.reserve(2 * std::size_t{len});
    for (unsigned int i = 0; i < len; ++i) {
      out += kHex[md[i] >> 4U];
      out += kHex[md[i] & 0xFU];
    }
    return out;
  }

 private:
  /// held_alarm must come after held_prealarm. Reports at whichever of the two is written here;
  /// when neither is, the problem was inherited and is reported where it was written.
  void check_held(const Item* pre_item, const Item* alarm_item, Duration pre, Duration alarm,
                  std::string_view inherited) {
    if (alarm > pre) return;
    if (alarm_item != nullptr) {
      std::string from = pre_item != nullptr ? "" : ", " + std::string(inherited);
      error(*alarm_item, "held_alarm (" + format_duration(alarm) + ") must be longer than held_prealarm (" +
                             format_duration(pre) + from + ")");
    } else if (pre_item != nullptr) {
      error(*pre_item, "held_prealarm (" + format_duration(pre) + ") must be shorter than held_alarm (" +
                           format_duration(alarm) + ", " + std::string(inherited) + ")");
    }
  }

  // ---- sections ---------------------------------------------------------------------------------

  void compile(const YamlNode& root) {
    Item top{&root, "", root.mark.line > 0 ? root.mark : SourceMark{1, 1}};
    if (root.kind == Kind::null) {
      error(SourceMark{1, 1}, "", "the file is empty; expected a map with keys site, zones, doors and roles");
      return;
    }
    if (root.kind != Kind::map) {
      error(top.mark(), "", "the file must be a map with keys site, zones, doors and roles, got " + describe(root));
      return;
    }
    Fields f = fields(top, {"site", "defaults", "zones", "schedules", "gates", "doors", "interlocks", "roles", "tamper",
                            "hardware", "daemon"});
    if (!f.ok()) return;
    // Required sections are checked up front so their absence is reported even when other
    // sections are broken.
    const Item* site = require(f, "site");
    const Item* zones = require(f, "zones");
    const Item* doors = require(f, "doors");
    const Item* roles = require(f, "roles");

    if (site != nullptr) load_site(*site);
    if (const Item* d = f.get("defaults")) load_defaults(*d);
    if (zones != nullptr) load_zones(*zones);
    if (const Item* s = f.get("schedules")) load_schedules(*s);
    if (roles != nullptr) load_role_names(*roles);
    if (const Item* g = f.get("gates")) load_gates(*g);
    if (doors != nullptr) load_doors(*doors);
    if (const Item* i = f.get("interlocks")) load_interlocks(*i);
    if (roles != nullptr) load_roles(*roles);
    const Item* tamper = f.get("tamper");
    if (tamper != nullptr) load_tampers(*tamper);

    // Not part of the policy: how this gateway is wired, and how the daemon runs.
    const SiteNames names{policy_,
                          door_names_,
                          gate_names_,
                          tamper_names_,
                          door_items_,
                          gate_items_,
                          tamper_items_,
                          doors != nullptr && !door_names_.broken(),
                          !gate_names_.broken(),
                          !tamper_names_.broken()};
    hardware_ = compile_hardware(*this, f.get("hardware"), names);
    daemon_ = compile_daemon(*this, f.get("daemon"));
  }

  void load_site(const Item& it) {
    Fields f = fields(it, {"name", "time_zone", "holidays"});
    if (!f.ok()) return;
    if (const Item* n = require(f, "name")) {
      if (const std::string* s = scalar(*n, "the site's name")) {
        if (s->empty()) {
          error(*n, "the site name must not be empty");
        } else if (s->size() > kMaxSiteNameLength) {
          error(*n, "the site name is too long (" + std::to_string(s->size()) + " bytes, at most " +
                        std::to_string(kMaxSiteNameLength) + ")");
        } else if (has_control(*s)) {
          error(*n, "the site name must not contain control characters");
        } else {
          policy_.site_name = *s;
        }
      }
    }
    if (const Item* z = require(f, "time_zone")) load_time_zone_key(*z);
    if (const Item* h = f.get("holidays")) load_holidays(*h);
  }

  void load_time_zone_key(const Item& it) {
    const std::string* name = scalar(it, "an IANA time zone name such as Asia/Tokyo");
    if (name == nullptr) return;
    // Checked here as well as in the tz reader: the name becomes part of a file path.
    const bool charset_ok = std::all_of(name->begin(), name->end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
             c == '-' || c == '/';
    });
    if (name->empty() || name->size() > 64 || !charset_ok || name->front() == '/' ||
        name->find("..") != std::string::npos) {
      error(it, "invalid time zone name " + quoted(*name) + ": expected an IANA name such as Asia/Tokyo or UTC");
      return;
    }
    std::string why;
    std::optional<core::TimeZone> zone;
    try {
      zone = tz_ ? tz_(*name, &why) : load_time_zone(*name, &why);
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (!zone) {
      // config::load_time_zone words complete messages that name the zone (and the file it
      // looked for); only a bare reason from another loader needs the context added.
      std::string message;
      if (why.empty()) {
        message = "unknown time zone " + quoted(*name);
      } else if (why.find("'" + *name + "'") != std::string::npos) {
        message = printable(why, 300);
      } else {
        message = "unknown time zone " + quoted(*name) + ": " + printable(why, 200);
      }
      error(it, std::move(message));
      return;
    }
    policy_.time_zone = std::move(*zone);
  }

  void load_holidays(const Item& it) {
    auto items = list(it, "dates (YYYY-MM-DD)");
    if (!items) return;
    std::unordered_map<std::int32_t, std::string> seen;
    for (const auto& e : *items) {
      const std::string* s = scalar(e, "a date (YYYY-MM-DD)");
      if (s == nullptr) continue;
      const std::string_view t = *s;
      const bool shape = t.size() == 10 && t[4] == '-' && t[7] == '-' && all_digits(t.substr(0, 4)) &&
                         all_digits(t.substr(5, 2)) && all_digits(t.substr(8, 2));
      if (!shape) {
        error(e, "invalid date " + quoted(t) + ": expected YYYY-MM-DD, e.g. 2027-01-01");
        continue;
      }
      const auto year = static_cast<std::int32_t>(*to_number(t.substr(0, 4)));
      const auto month = static_cast<unsigned>(*to_number(t.substr(5, 2)));
      const auto day = static_cast<unsigned>(*to_number(t.substr(8, 2)));
      const std::int32_t days = (month >= 1 && month <= 12 && day >= 1) ? core::days_from_civil(year, month, day) : 0;
      const core::CivilDate back = core::civil_from_days(days);
      if (month < 1 || month > 12 || day < 1 || back.year != year || back.month != month || back.day != day) {
        error(e, "invalid date " + quoted(t) + ": no such day in the calendar");
        continue;
      }
      auto [pos, fresh] = seen.emplace(days, e.path);
      if (!fresh) {
        error(e, "duplicate holiday " + std::string(t) + " (already listed as " + pos->second + ")");
        continue;
      }
      policy_.holidays.push_back(days);
    }
    std::sort(policy_.holidays.begin(), policy_.holidays.end());
  }

  void load_defaults(const Item& it) {
    Fields f = fields(it, {"unlock", "held_prealarm", "held_alarm", "screening_window", "two_person_window",
                           "escort_window", "lone_zone_window"});
    if (!f.ok()) return;
    auto read = [&](std::string_view key, Duration& into) -> const Item* {
      const Item* v = f.get(key);
      if (v == nullptr) return nullptr;
      auto d = duration(*v);
      if (!d) return nullptr;
      into = *d;
      return v;
    };
    read("unlock", defaults_.unlock);
    const Item* pre = read("held_prealarm", defaults_.held_prealarm);
    const Item* alarm = read("held_alarm", defaults_.held_alarm);
    read("screening_window", defaults_.screening);
    read("two_person_window", defaults_.two_person);
    read("escort_window", defaults_.escort);
    read("lone_zone_window", defaults_.lone_zone);
    check_held(pre, alarm, defaults_.held_prealarm, defaults_.held_alarm, "the built-in default");
  }

  void load_zones(const Item& it) {
    if (!is_map(it)) zone_names_.set_broken();
    std::vector<Named> named = id_entries(it, "zone");
    if (!check_table_size(it, named.size(), kMaxTableSize, "zones")) named.resize(kMaxTableSize);
    std::vector<ZoneSource> src;
    src.reserve(named.size());
    NameTable names;
    for (auto& n : named) {
      names.add(n.key);
      ZoneSource z;
      z.id = n.key;
      z.item = n.item;
      z.zone.id = n.key;
      src.push_back(std::move(z));
    }
    // Fields hold items by value; parent_item points into them, so fill them in place.
    for (auto& z : src) {
      z.fields = fields(z.item, {"parent", "max_occupancy", "anti_passback", "credential"});
      const Fields& f = z.fields;
      if (!f.ok()) continue;
      if ((z.parent_item = f.get("parent")) != nullptr) {
        z.parent = reference(*z.parent_item, names, "zone", "zones");
      }
      if ((z.max_occupancy_item = f.get("max_occupancy")) != nullptr) {
        if (auto v = positive_count(*z.max_occupancy_item, kMaxOccupancy)) z.zone.max_occupancy = *v;
      }
      if (const Item* v = f.get("anti_passback")) {
        if (auto a = choice(*v, kAntiPassback, "anti_passback")) z.zone.anti_passback = *a;
      }
      if (const Item* v = f.get("credential")) {
        if (auto c = choice(*v, kCredential, "credential")) z.zone.min_credential = *c;
      }
    }

    // Exactly one root. A zone whose map is broken counts as having no parent key only if it
    // really has none, so a type error does not also produce a root error.
    std::optional<std::size_t> root;
    for (std::size_t i = 0; i < src.size(); ++i) {
      if (!src[i].fields.ok() || src[i].parent_item != nullptr) continue;
      if (!root) {
        root = i;
        continue;
      }
      error(src[i].item.where, src[i].item.path,
            "zone " + quoted(src[i].id) + " has no parent, but zone " + quoted(src[*root].id) +
                " has none either: exactly one zone (the public outside) may have no parent");
    }
    const bool zones_map_ok = it.node->kind == Kind::map || it.node->kind == Kind::null;
    if (!root && zones_map_ok) {
      error(it.where, it.path, "no root zone: exactly one zone must have no parent (it stands for the public outside)");
    }
    if (root && src[*root].max_occupancy_item != nullptr) {
      error(*src[*root].max_occupancy_item,
            "the root zone " + quoted(src[*root].id) + " is the public outside and cannot have a max_occupancy");
    }
    std::vector<bool> unsettled(src.size(), false);
    for (std::size_t i = 0; i < src.size(); ++i) unsettled[i] = src[i].parent_item != nullptr && !src[i].parent;
    report_cycles(src, unsettled);

    // Policy order: the root first, then the others in file order.
    std::vector<std::size_t> order;
    if (root) order.push_back(*root);
    for (std::size_t i = 0; i < src.size(); ++i) {
      if (!root || i != *root) order.push_back(i);
    }
    std::vector<std::size_t> policy_index(src.size());
    for (std::size_t k = 0; k < order.size(); ++k) policy_index[order[k]] = k;
    for (std::size_t k = 0; k < order.size(); ++k) {
      ZoneSource& z = src[order[k]];
      if (z.parent) z.zone.parent = static_cast<core::ZoneIdx>(policy_index[*z.parent]);
      zone_names_.add(z.id);
      zone_unsettled_.push_back(unsettled[order[k]]);
      policy_.zones.push_back(std::move(z.zone));
    }
    root_zone_ = root ? std::optional<std::size_t>{0} : std::nullopt;
  }

  /// Marks the zones of a cycle in `unsettled` (source indices).
  void report_cycles(const std::vector<ZoneSource>& src, std::vector<bool>& unsettled) {
    // Walk up from each zone; meeting a zone of the current walk again closes a cycle.
    enum : std::uint8_t { unseen, on_walk, done };
    std::vector<std::uint8_t> state(src.size(), unseen);
    for (std::size_t start = 0; start < src.size(); ++start) {
      std::vector<std::size_t> walk;
      std::optional<std::size_t> z = start;
      while (z && state[*z] == unseen) {
        state[*z] = on_walk;
        walk.push_back(*z);
        z = src[*z].parent;
      }
      if (z && state[*z] == on_walk) {
        auto from = std::find(walk.begin(), walk.end(), *z);
        std::vector<std::size_t> cycle(from, walk.end());
        for (std::size_t c : cycle) unsettled[c] = true;
        // Start the message at the member written first, and report at its `parent`.
        const std::size_t first = *std::min_element(cycle.begin(), cycle.end());
        std::string text = src[first].id;
        std::size_t at = first;
        do {
          at = *src[at].parent;
          text += " -> " + src[at].id;
        } while (at != first);
        error(*src[first].parent_item, "zone tree has a cycle: " + printable(text, 400));
      }
      for (std::size_t w : walk) state[w] = done;
    }
  }

  void load_schedules(const Item& it) {
    if (!is_map(it)) schedule_names_.set_broken();
    std::vector<Named> named = id_entries(it, "schedule");
    if (!check_table_size(it, named.size(), kMaxTableSize, "schedules")) named.resize(kMaxTableSize);
    for (const auto& n : named) {
      schedule_names_.add(n.key);
      core::Schedule s;
      s.id = n.key;
      Fields f = fields(n.item, {"weekly", "holidays"});
      if (f.ok()) {
        if (const Item* w = require(f, "weekly")) s.windows = load_windows(*w);
        if (const Item* h = f.get("holidays")) {
          if (auto open = choice(*h, kHolidayMode, "holidays")) s.open_on_holidays = *open;
        }
      }
      policy_.schedules.push_back(std::move(s));
    }
  }

  std::vector<core::WeeklyWindow> load_windows(const Item& it) {
    std::vector<core::WeeklyWindow> windows;
    auto items = list(it, "windows");
    if (!items) return windows;
    if (items->empty()) {
      error(it, "must list at least one window, e.g. {days: [weekdays], from: \"08:00\", to: \"18:00\"}");
      return windows;
    }
    struct Checked {
      core::WeeklyWindow w;
      std::size_t index;
      const Item* item;
    };
    std::vector<Checked> good;
    for (std::size_t i = 0; i < items->size(); ++i) {
      const Item& e = (*items)[i];
      Fields f = fields(e, {"days", "from", "to"});
      if (!f.ok()) continue;
      const Item* days = require(f, "days");
      const Item* from = require(f, "from");
      const Item* to = require(f, "to");
      std::optional<std::uint8_t> mask = days != nullptr ? day_mask(*days) : std::nullopt;
      std::optional<std::int32_t> a = from != nullptr ? time_of_day(*from, false) : std::nullopt;
      std::optional<std::int32_t> b = to != nullptr ? time_of_day(*to, true) : std::nullopt;
      if (a && b && *a >= *b) {
        if (*a == *b) {
          error(*to, "the window is empty: 'to' (" + format_time(*b) + ") equals 'from'");
        } else {
          error(*to, "'to' (" + format_time(*b) + ") must be later than 'from' (" + format_time(*a) +
                         "); split a window that crosses midnight in two, e.g. 22:00-24:00 and 00:00-06:00");
        }
        continue;
      }
      if (!mask || !a || !b) continue;
      core::WeeklyWindow w;
      w.days = *mask;
      w.from_minute = *a;
      w.to_minute = *b;
      windows.push_back(w);
      good.push_back(Checked{w, i, &e});
    }
    // Overlapping windows are almost always a typo; report each window once, against the first
    // earlier window it overlaps.
    for (std::size_t j = 0; j < good.size(); ++j) {
      for (std::size_t i = 0; i < j; ++i) {
        const auto shared = static_cast<unsigned>(good[i].w.days & good[j].w.days);
        if (shared == 0 || good[i].w.from_minute >= good[j].w.to_minute ||
            good[j].w.from_minute >= good[i].w.to_minute) {
          continue;
        }
        std::size_t day = 0;
        while (((shared >> day) & 1U) == 0) ++day;
        error(*good[j].item,
              "window overlaps weekly[" + std::to_string(good[i].index) + "] on " + std::string(kDayNames[day]));
        break;
      }
    }
    return windows;
  }

  std::optional<std::uint8_t> day_mask(const Item& it) {
    auto items = list(it, "days");
    if (!items) return std::nullopt;
    if (items->empty()) {
      error(it, "must list at least one day (" + choice_names(kDays) + ")");
      return std::nullopt;
    }
    unsigned mask = 0;
    bool ok = true;
    for (const auto& e : *items) {
      const std::string* s = scalar(e, "a day name");
      if (s == nullptr) {
        ok = false;
        continue;
      }
      auto c = std::find_if(kDays.begin(), kDays.end(), [&](const auto& d) { return d.name == *s; });
      if (c == kDays.end()) {
        error(e, "unknown day " + quoted(*s) + " (expected one of: " + choice_names(kDays) + ")");
        ok = false;
        continue;
      }
      if ((mask & c->value) != 0) {
        error(e, "day " + quoted(*s) + " repeats a day already listed");
        continue;
      }
      mask |= c->value;
    }
    if (!ok) return std::nullopt;
    return static_cast<std::uint8_t>(mask);
  }

  /// "HH:MM", 00:00 to 23:59; 24:00 is allowed as the end of a window.
  std::optional<std::int32_t> time_of_day(const Item& it, bool is_end) {
    const std::string* s = scalar(it, "a time of day \"HH:MM\"");
    if (s == nullptr) return std::nullopt;
    const std::string_view t = *s;
    if (t.size() != 5 || t[2] != ':' || !all_digits(t.substr(0, 2)) || !all_digits(t.substr(3, 2))) {
      error(it, "invalid time " + quoted(t) + ": expected HH:MM (24-hour clock), e.g. \"07:30\"");
      return std::nullopt;
    }
    const auto h = static_cast<std::int32_t>(*to_number(t.substr(0, 2)));
    const auto m = static_cast<std::int32_t>(*to_number(t.substr(3, 2)));
    if (h > 24 || m > 59 || (h == 24 && m != 0)) {
      error(it, "invalid time " + quoted(t) + ": must be between 00:00 and 24:00");
      return std::nullopt;
    }
    if (h == 24 && !is_end) {
      error(it, "24:00 can only end a window ('to'); start at 00:00 instead");
      return std::nullopt;
    }
    return h * 60 + m;
  }

  void load_role_names(const Item& it) {
    // Only the names here: doors refer to roles (one_of_role) and roles refer to each other
    // (escort_by), so names are needed before either is read.
    if (it.node->kind != Kind::map) {  // reported by load_roles
      if (!is_map(it)) role_names_.set_broken();
      return;
    }
    std::unordered_map<std::string, bool> seen;
    for (const auto& e : it.node->entries) {
      if (e.key->kind != Kind::scalar || !seen.emplace(e.key->text, true).second) continue;
      if (role_names_.size() == core::kMaxRoles) {
        error(e.key->mark, child_path(it.path, e.key->text),
              "too many roles: at most " + std::to_string(core::kMaxRoles) + " are allowed");
      }
      role_names_.add(e.key->text);
    }
  }

  void load_gates(const Item& it) {
    if (!is_map(it)) gate_names_.set_broken();
    std::vector<Named> named = id_entries(it, "gate");
    if (!check_table_size(it, named.size(), kMaxTableSize, "gates")) named.resize(kMaxTableSize);
    for (const auto& n : named) {
      gate_names_.add(n.key);
      gate_items_.push_back(n.item);
      fields(n.item, {});
      core::Gate g;
      g.id = n.key;
      policy_.gates.push_back(std::move(g));
    }
  }

  void load_doors(const Item& it) {
    if (!is_map(it)) door_names_.set_broken();
    std::vector<Named> named = id_entries(it, "door");
    if (!check_table_size(it, named.size(), kMaxTableSize, "doors")) named.resize(kMaxTableSize);
    for (const auto& n : named) {
      door_names_.add(n.key);
      door_items_.push_back(n.item);
    }
    for (std::size_t i = 0; i < named.size(); ++i) {
      core::Door d;
      d.id = named[i].key;
      d.unlock_time = defaults_.unlock;
      d.held_prealarm = defaults_.held_prealarm;
      d.held_alarm = defaults_.held_alarm;
      d.escort_window = defaults_.escort;
      d.two_person.window = defaults_.two_person;
      d.no_lone_zone.window = defaults_.lone_zone;
      load_door(named[i].item, i, d);
      policy_.doors.push_back(std::move(d));
    }
    // A door whose gate reference is broken may be the user of an apparently unused gate.
    for (std::size_t g = 0; g < policy_.gates.size() && !gate_ref_broken_; ++g) {
      if (policy_.gates[g].door == core::kNoIdx) {
        error(gate_items_[g].where, gate_items_[g].path,
              "gate " + quoted(policy_.gates[g].id) + " is not used by any door");
      }
    }
  }

  void load_door(const Item& it, std::size_t index, core::Door& d) {
    Fields f = fields(it, {"from", "to", "credential", "gate", "two_person", "no_lone_zone", "fire_egress",
                           "request_to_exit", "unlock", "held_prealarm", "held_alarm", "escort_window"});
    if (!f.ok()) return;
    const Item* from = require(f, "from");
    const Item* to = require(f, "to");
    std::optional<std::size_t> outer = from != nullptr ? reference(*from, zone_names_, "zone", "zones") : std::nullopt;
    std::optional<std::size_t> inner = to != nullptr ? reference(*to, zone_names_, "zone", "zones") : std::nullopt;
    if (outer && inner) {
      check_door_zones(*to, *outer, *inner);
      d.outer = static_cast<core::ZoneIdx>(*outer);
      d.inner = static_cast<core::ZoneIdx>(*inner);
    }
    if (const Item* v = f.get("credential")) {
      if (auto c = choice(*v, kCredential, "credential")) d.min_credential = *c;
    }
    if (const Item* v = f.get("gate")) load_door_gate(*v, index, d);
    if (const Item* v = f.get("two_person")) load_two_person(*v, d);
    if (const Item* v = f.get("no_lone_zone")) load_lone_zone(*v, d);
    if (const Item* v = f.get("fire_egress")) {
      if (auto b = boolean(*v)) d.fire_egress = *b;
    }
    const Item* rex = f.get("request_to_exit");
    if (rex != nullptr) {
      if (auto b = boolean(*rex)) d.request_to_exit = *b;
    }
    auto timing = [&](std::string_view key, Duration& into) -> const Item* {
      const Item* v = f.get(key);
      if (v == nullptr) return nullptr;
      auto t = duration(*v);
      if (!t) return nullptr;
      into = *t;
      return v;
    };
    timing("unlock", d.unlock_time);
    const Item* pre = timing("held_prealarm", d.held_prealarm);
    const Item* alarm = timing("held_alarm", d.held_alarm);
    timing("escort_window", d.escort_window);
    check_held(pre, alarm, d.held_prealarm, d.held_alarm, "from defaults");

    // A request-to-exit button unlocks without a badge, so it would skip every check made on a
    // badged exit. Refuse the combinations where that check is the point of the door.
    if (rex != nullptr && d.request_to_exit) {
      if (d.gate && d.gate->screens_out) {
        error(*rex,
              "request_to_exit would let people leave without screening (the gate screens 'out'); set it to false");
      }
      if (d.no_lone_zone.mode != core::LoneZoneMode::off) {
        error(*rex, "request_to_exit would let people leave without the no_lone_zone check; set it to false");
      }
      if (d.two_person.on_out) {
        error(*rex, "request_to_exit would let people leave without the two-person rule on 'out'; set it to false");
      }
    }
  }

  void check_door_zones(const Item& to, std::size_t outer, std::size_t inner) {
    const auto& zones = policy_.zones;
    const std::string& a = zones[outer].id;
    const std::string& b = zones[inner].id;
    if (outer == inner) {
      error(to, "'from' and 'to' are the same zone " + quoted(a));
      return;
    }
    if (zone_unsettled_[outer] || zone_unsettled_[inner]) return;  // the zone tree error says why
    if (zones[inner].parent == outer) return;
    if (zones[inner].parent != core::kNoIdx && zones[inner].parent == zones[outer].parent) return;
    if (zones[outer].parent == inner) {
      error(to, "zone " + quoted(b) + " is the parent of " + quoted(a) +
                    ": 'from' is the outer zone and 'to' the inner one, so swap them");
      return;
    }
    error(to, "zone " + quoted(b) + " is neither a child nor a sibling of " + quoted(a) +
                  ": a door connects a zone to one of its sub-zones, or two zones with the same parent");
  }

  void load_door_gate(const Item& it, std::size_t door, core::Door& d) {
    Fields f = fields(it, {"id", "screens", "hold_on_exit_alarm", "window"});
    if (!f.ok()) {
      gate_ref_broken_ = true;
      return;
    }
    core::GateRef ref;
    ref.window = defaults_.screening;
    ref.screens_in = true;
    ref.screens_out = true;
    bool ok = true;
    if (const Item* id = require(f, "id")) {
      if (auto g = reference(*id, gate_names_, "gate", "gates")) {
        core::Gate& gate = policy_.gates[*g];
        if (gate.door != core::kNoIdx) {
          error(*id, "gate " + quoted(gate.id) + " is already used by door " + quoted(policy_.doors[gate.door].id) +
                         "; a gate belongs to exactly one door");
        } else {
          gate.door = static_cast<core::DoorIdx>(door);
        }
        ref.gate = static_cast<core::GateIdx>(*g);
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    if (const Item* s = f.get("screens")) {
      if (auto dirs = choice_list(*s, kDirection, "direction")) {
        ref.screens_in = std::find(dirs->begin(), dirs->end(), core::Direction::in) != dirs->end();
        ref.screens_out = std::find(dirs->begin(), dirs->end(), core::Direction::out) != dirs->end();
      }
    }
    if (const Item* h = f.get("hold_on_exit_alarm")) {
      if (auto b = boolean(*h)) {
        ref.hold_on_exit_alarm = *b;
        if (*b && !ref.screens_out) error(*h, "hold_on_exit_alarm needs the gate to screen 'out'");
      }
    }
    if (const Item* w = f.get("window")) {
      if (auto t = duration(*w)) ref.window = *t;
    }
    if (ok) {
      d.gate = ref;
    } else {
      gate_ref_broken_ = true;
    }
  }

  void load_two_person(const Item& it, core::Door& d) {
    Fields f = fields(it, {"on", "window", "one_of_role"});
    if (!f.ok()) return;
    if (const Item* on = require(f, "on")) {
      if (auto dirs = choice_list(*on, kDirection, "direction")) {
        d.two_person.on_in = std::find(dirs->begin(), dirs->end(), core::Direction::in) != dirs->end();
        d.two_person.on_out = std::find(dirs->begin(), dirs->end(), core::Direction::out) != dirs->end();
      }
    }
    if (const Item* w = f.get("window")) {
      if (auto t = duration(*w)) d.two_person.window = *t;
    }
    if (const Item* r = f.get("one_of_role")) {
      if (auto role = reference(*r, role_names_, "role", "roles"); role && *role < core::kMaxRoles) {
        d.two_person.one_of_role = static_cast<core::RoleIdx>(*role);
      }
    }
  }

  void load_lone_zone(const Item& it, core::Door& d) {
    Fields f = fields(it, {"mode", "window"});
    if (!f.ok()) return;
    if (const Item* m = require(f, "mode")) {
      if (auto mode = choice(*m, kLoneZoneMode, "mode")) d.no_lone_zone.mode = *mode;
    }
    if (const Item* w = f.get("window")) {
      if (auto t = duration(*w)) d.no_lone_zone.window = *t;
    }
  }

  void load_interlocks(const Item& it) {
    std::vector<Named> named = id_entries(it, "interlock group");
    if (!check_table_size(it, named.size(), kMaxTableSize, "interlock groups")) named.resize(kMaxTableSize);
    for (std::size_t g = 0; g < named.size(); ++g) {
      const Named& n = named[g];
      core::InterlockGroup group;
      group.id = n.key;
      if (auto items = list(n.item, "door ids")) {
        if (items->size() < 2) {
          error(n.item.where, n.item.path,
                "an interlock group needs at least 2 doors, got " + std::to_string(items->size()));
        }
        for (const auto& e : *items) {
          auto door = reference(e, door_names_, "door", "doors");
          if (!door || *door >= policy_.doors.size()) continue;
          core::Door& d = policy_.doors[*door];
          if (std::find(group.doors.begin(), group.doors.end(), *door) != group.doors.end()) {
            error(e, "door " + quoted(d.id) + " is listed twice");
            continue;
          }
          if (d.interlock != core::kNoIdx) {
            error(e, "door " + quoted(d.id) + " is already in interlock group " +
                         quoted(policy_.interlocks[d.interlock].id) + "; a door may be in at most one group");
            continue;
          }
          d.interlock = static_cast<std::uint16_t>(g);
          group.doors.push_back(static_cast<core::DoorIdx>(*door));
        }
      }
      policy_.interlocks.push_back(std::move(group));
    }
  }

  void load_roles(const Item& it) {
    std::vector<Named> named = id_entries(it, "role");
    std::vector<EscortUse> escorts;
    for (std::size_t r = 0; r < named.size(); ++r) {
      core::Role role;
      role.id = named[r].key;
      role.zones.resize(policy_.zones.size());
      role.may_escort.resize(policy_.zones.size(), false);
      Fields f = fields(named[r].item, {"zones", "may_escort", "can"});
      if (f.ok()) {
        if (const Item* z = f.get("zones")) load_grants(*z, role, escorts);
        if (const Item* m = f.get("may_escort")) {
          auto items = list(*m, "zone ids");
          for (std::size_t k = 0; items && k < items->size(); ++k) {
            const Item& e = (*items)[k];
            auto zone = reference(e, zone_names_, "zone", "zones");
            if (!zone) continue;
            if (root_zone_ && *zone == *root_zone_) {
              error(e, "zone " + quoted(policy_.zones[*zone].id) +
                           " is the root (the public outside); nobody is escorted into it");
            } else if (role.may_escort[*zone]) {
              error(e, quoted(policy_.zones[*zone].id) + " is listed twice");
            } else {
              role.may_escort[*zone] = true;
            }
          }
        }
        if (const Item* c = f.get("can")) {
          if (auto caps = choice_list(*c, kCapability, "capability", false)) {
            for (auto cap : *caps)
              role.capabilities = static_cast<core::CapabilityMask>(role.capabilities | core::cap_bit(cap));
          }
        }
      }
      if (policy_.roles.size() < core::kMaxRoles) policy_.roles.push_back(std::move(role));
    }
    // Only now is every role's may_escort known.
    for (const auto& use : escorts) {
      if (use.escort_role >= policy_.roles.size()) continue;
      const core::Role& escort = policy_.roles[use.escort_role];
      if (!escort.may_escort[use.zone]) {
        const std::string& zone = policy_.zones[use.zone].id;
        error(use.item,
              "role " + quoted(escort.id) + " could never escort here: its may_escort does not list " + quoted(zone));
      }
    }
  }

  void load_grants(const Item& it, core::Role& role, std::vector<EscortUse>& escorts) {
    auto list_of = entries(it);
    if (!list_of) return;
    for (const auto& g : *list_of) {
      auto zone = zone_names_.find(g.key);
      if (!zone && zone_names_.broken()) {
        // the zones section is unreadable; reported there
      } else if (!zone) {
        error(g.item.where, g.item.path,
              "unknown zone " + quoted(g.key) +
                  (zone_names_.size() == 0 ? " (no zones are defined)"
                                           : " (defined zones: " + zone_names_.listing() + ")"));
      } else if (root_zone_ && *zone == *root_zone_) {
        error(g.item.where, g.item.path,
              "zone " + quoted(g.key) + " is the root (the public outside), which needs no grant; remove it");
        zone.reset();
      }
      Fields f = fields(g.item, {"schedule", "escort_by"});
      if (!f.ok()) continue;
      core::ZoneGrant grant;
      bool ok = true;
      if (const Item* s = require(f, "schedule")) {
        if (auto sched = reference(*s, schedule_names_, "schedule", "schedules")) {
          grant.schedule = static_cast<std::uint16_t>(*sched);
        } else {
          ok = false;
        }
      } else {
        ok = false;
      }
      if (const Item* e = f.get("escort_by")) {
        auto items = list(*e, "role ids");
        if (items && items->empty())
          error(*e, "must list at least one role (leave the key out if no escort is needed)");
        std::vector<std::size_t> seen;
        for (std::size_t k = 0; items && k < items->size(); ++k) {
          const Item& el = (*items)[k];
          auto r = reference(el, role_names_, "role", "roles");
          if (!r) {
            ok = false;
            continue;
          }
          if (std::find(seen.begin(), seen.end(), *r) != seen.end()) {
            error(el, quoted(role_names_.name(*r)) + " is listed twice");
            continue;
          }
          seen.push_back(*r);
          if (*r >= core::kMaxRoles) continue;
          grant.escort_by |= core::RoleMask{1} << *r;
          if (zone) escorts.push_back(EscortUse{el, *r, *zone});
        }
      }
      if (zone && ok) role.zones[*zone] = grant;
    }
  }

  void load_tampers(const Item& it) {
    auto items = list(it, "tamper input ids");
    if (!items) {
      tamper_names_.set_broken();
      return;
    }
    if (!check_table_size(it, items->size(), kMaxTableSize, "tamper inputs")) items->resize(kMaxTableSize);
    // Invalid ids are kept in tamper_names_ too, so the hardware section's references to them
    // are not reported again as unknown.
    auto define = [&](const Item& e, const std::string& id) {
      if (tamper_names_.find(id)) return;
      tamper_names_.add(id);
      tamper_items_.push_back(e);
    };
    for (const auto& e : *items) {
      const std::string* s = scalar(e, "a tamper input id");
      if (s == nullptr) {
        tamper_names_.set_broken();
        continue;
      }
      if (!valid_id(*s)) {
        error(e, "invalid tamper input id " + quoted(*s) +
                     ": an id is 1 to 64 letters, digits, '-' or '_', starting with a letter or digit");
        define(e, *s);
        continue;
      }
      if (tamper_names_.find(*s)) {
        error(e, quoted(*s) + " is listed twice");
        continue;
      }
      define(e, *s);
      policy_.tampers.push_back(core::TamperInput{*s});
    }
  }

  std::string_view text_;
  const TimeZoneLoader& tz_;

  core::Policy policy_;
  Timings defaults_;
  NameTable zone_names_;  // in policy order
  std::optional<std::size_t> root_zone_;
  NameTable schedule_names_;
  NameTable role_names_;
  NameTable gate_names_;
  std::vector<Item> gate_items_;  // gate definitions, in policy order
  std::vector<Item> door_items_;  // door definitions, in policy order
  NameTable tamper_names_;
  std::vector<Item> tamper_items_;  // tamper list elements, in tamper_names_ order
  HardwareConfig hardware_;
  DaemonSettings daemon_;
  NameTable door_names_;
  bool gate_ref_broken_ = false;
  std::vector<bool> zone_unsettled_;  // policy index: parent unknown or on a cycle
};

}  // namespace

LoadResult load_policy_text(std::string_view text, const std::string& file_name, const TimeZoneLoader& tz) {
  try {
    return Compiler(text, file_name, tz).run();
  } catch (const std::bad_alloc&) {
    LoadResult r;
    r.errors.push_back(ConfigError{file_name, 0, 0, "", "out of memory while loading the configuration"});
    return r;
  } catch (const std::exception& e) {
    LoadResult r;
    r.errors.push_back(ConfigError{file_name, 0, 0, "", std::string("internal error while loading: ") + e.what()});
    return r;
  } catch (...) {
    LoadResult r;
    r.errors.push_back(ConfigError{file_name, 0, 0, "", "internal error while loading"});
    return r;
  }
}

namespace {

/// The whole file, or the reason it cannot be read.
std::optional<std::string> read_file(const std::string& path, std::string* why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = std::generic_category().message(errno);
    return std::nullopt;
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    *why = std::generic_category().message(errno);
    return std::nullopt;
  }
  if (S_ISDIR(st.st_mode)) {
    *why = std::generic_category().message(EISDIR);
    return std::nullopt;
  }
  if (S_ISREG(st.st_mode) && st.st_size > kMaxFileBytes) {
    *why = "the file is larger than 16 MiB";
    return std::nullopt;
  }
  std::string out;
  std::array<char, 65536> buf{};
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      *why = std::generic_category().message(errno);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
    if (out.size() > static_cast<std::size_t>(kMaxFileBytes)) {
      *why = "the file is larger than 16 MiB";
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace

LoadResult load_policy_file(const std::string& path) {
  try {
    std::string why;
    auto text = read_file(path, &why);
    if (!text) {
      LoadResult r;
      r.errors.push_back(ConfigError{path, 0, 0, "", "cannot read file: " + why});
      return r;
    }
    return load_policy_text(*text, path);
  } catch (...) {
    LoadResult r;
    r.errors.push_back(ConfigError{path, 0, 0, "", "cannot read file: out of memory"});
    return r;
  }
}

}  // namespace zonegate::config
