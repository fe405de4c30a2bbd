// SPDX-License-Identifier: Apache-2.0
#include "config/hardware_section.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace zonegate::config::detail {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMaxLineName = 64;
constexpr std::size_t kMaxConnstring = 1023;  // libnfc's NFC_BUFSIZE_CONNSTRING, less the NUL
constexpr std::size_t kMaxPath = 4095;
constexpr std::size_t kMaxSystemIdentifier = 21;  // AN10922 input with a 7-byte UID
constexpr std::uint64_t kMaxKeyNumber = 13;       // a DESFire application has at most 14 keys
constexpr std::size_t kMaxGatewayId = 63;
constexpr std::size_t kMaxGroupName = 32;

constexpr DurationLimits kPollLimits{10ms, 1s, false};
constexpr DurationLimits kHungLimits{1s, 10min, false};
constexpr DurationLimits kDebounceLimits{0ms, 1s, false};
constexpr DurationLimits kCheckpointLimits{1s, 24h, false};
constexpr DurationLimits kRetentionLimits{24h, 3650 * 24h, true};
constexpr DurationLimits kPullIntervalLimits{1s, 24h, false};
constexpr DurationLimits kSessionIdleLimits{1min, 8h, false};
constexpr DurationLimits kBackoffMaxLimits{1s, 1h, false};
constexpr DurationLimits kUpstreamTimeoutLimits{1s, 10min, false};
constexpr std::size_t kMaxDsn = 4096;

constexpr std::array<Choice<ReaderBackend>, 2> kReaderBackends = {{
    {"sim", ReaderBackend::sim},
    {"nfc", ReaderBackend::nfc},
}};
constexpr std::array<Choice<GpioBackend>, 2> kGpioBackends = {{
    {"sim", GpioBackend::sim},
    {"gpiod", GpioBackend::gpiod},
}};
constexpr std::array<Choice<std::string_view>, 4> kSslModes = {{
    {"disable", "disable"},
    {"require", "require"},
    {"verify-ca", "verify-ca"},
    {"verify-full", "verify-full"},
}};
constexpr std::array<Choice<std::string_view>, 5> kLogLevels = {{
    {"debug", "debug"},
    {"info", "info"},
    {"notice", "notice"},
    {"warning", "warning"},
    {"error", "error"},
}};

bool hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::uint8_t hex_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
  return static_cast<std::uint8_t>(c - 'A' + 10);
}

bool all_hex(std::string_view s) { return std::all_of(s.begin(), s.end(), hex_digit); }

/// Pairs of hex digits to bytes; `s` has an even number of hex digits.
std::vector<std::uint8_t> hex_bytes(std::string_view s) {
  std::vector<std::uint8_t> out;
  out.reserve(s.size() / 2);
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>((hex_value(s[i]) << 4U) | hex_value(s[i + 1])));
  }
  return out;
}

bool valid_line_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxLineName) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

/// What a line is used for.
enum class Role : std::uint8_t { reader_power, strike, sensor, rex, buzzer, gate_clear, gate_alarm, fire, tamper };

bool is_output(Role r) { return r == Role::reader_power || r == Role::strike || r == Role::buzzer; }

std::string role_text(Role r, const std::string& owner) {
  switch (r) {
    case Role::reader_power:
      return "the reader_power line of door " + quoted(owner);
    case Role::strike:
      return "the strike of door " + quoted(owner);
    case Role::sensor:
      return "the sensor of door " + quoted(owner);
    case Role::rex:
      return "the rex input of door " + quoted(owner);
    case Role::buzzer:
      return "the buzzer of door " + quoted(owner);
    case Role::gate_clear:
      return "the clear input of gate " + quoted(owner);
    case Role::gate_alarm:
      return "the alarm input of gate " + quoted(owner);
    case Role::fire:
      return "the fire input";
    case Role::tamper:
      return "the line of tamper input " + quoted(owner);
  }
  return "a line";
}

/// How to give a line a name of its own instead of the default one.
std::string rename_hint(Role r, const std::string& owner) {
  switch (r) {
    case Role::reader_power:
    case Role::strike:
    case Role::sensor:
    case Role::rex:
    case Role::buzzer:
      return "name the lines of door " + quoted(owner) + " under hardware.doors";
    case Role::gate_clear:
    case Role::gate_alarm:
      return "name the lines of gate " + quoted(owner) + " under hardware.gates";
    case Role::fire:
      return "set hardware.fire";
    case Role::tamper:
      return "name the line of tamper input " + quoted(owner) + " under hardware.tamper";
  }
  return "name it in the hardware section";
}

/// One use of a line name: written in the file, or a default name made up for the simulator.
struct Use {
  std::string name;
  Role role = Role::strike;
  std::string owner;  // door, gate or tamper id; empty for the fire input
  SourceMark where;   // the value (written) or the definition of the owner (default)
  std::string path;
  bool made_up = false;
};

/// A reader connstring written for one side of a door.
struct ReaderUse {
  std::string connstring;
  std::string door;
  std::string_view key;  // reader_in or reader_out
  SourceMark where;
  std::string path;
};

/// A `lines:` entry.
struct LineSettings {
  std::string name;
  Item item;
  std::optional<bool> active_low;
  std::optional<std::chrono::milliseconds> debounce;
  const Item* debounce_item = nullptr;  // points into `fields`
  Fields fields;
};

bool before(SourceMark a, SourceMark b) { return a.line != b.line ? a.line < b.line : a.column < b.column; }

class HardwareCompiler {
 public:
  HardwareCompiler(Reader& reader, const SiteNames& site) : r_(reader), site_(site) {}

  HardwareConfig run(const Item* section) {
    HardwareConfig hc;
    std::optional<ReaderBackend> readers = ReaderBackend::sim;
    std::optional<GpioBackend> gpio = GpioBackend::sim;
    Fields f;
    if (section != nullptr) {
      f = r_.fields(*section, {"readers", "gpio", "nfc", "doors", "gates", "fire", "tamper", "lines"});
      if (!f.ok()) return hc;  // not a map; reported
      if (const Item* v = f.get("readers")) readers = r_.choice(*v, kReaderBackends, "reader backend");
      if (const Item* v = f.get("gpio")) gpio = r_.choice(*v, kGpioBackends, "gpio backend");
      if (readers) hc.readers = *readers;
      if (gpio) hc.gpio = *gpio;
      load_nfc(f, readers, hc.nfc);
    }
    const bool simulated = gpio == GpioBackend::sim;
    const bool gpiod = gpio == GpioBackend::gpiod;
    const bool nfc = readers == ReaderBackend::nfc;

    // What the file names.
    const Item* doors_item = section != nullptr ? f.get("doors") : nullptr;
    const Item* gates_item = section != nullptr ? f.get("gates") : nullptr;
    const Item* tamper_item = section != nullptr ? f.get("tamper") : nullptr;
    const Item* fire_item = section != nullptr ? f.get("fire") : nullptr;
    std::vector<std::optional<DoorHardware>> doors(site_.doors.size());
    std::vector<bool> door_listed(site_.doors.size(), false);
    std::vector<std::optional<GateHardware>> gates(site_.gates.size());
    std::vector<bool> gate_listed(site_.gates.size(), false);
    std::vector<std::optional<LineSpec>> tampers(site_.tampers.size());
    std::vector<bool> tamper_listed(site_.tampers.size(), false);
    bool doors_readable = true;
    bool gates_readable = true;
    bool tamper_readable = true;
    if (doors_item != nullptr) doors_readable = load_doors(*doors_item, nfc, doors, door_listed);
    if (gates_item != nullptr) gates_readable = load_gates(*gates_item, gates, gate_listed);
    if (fire_item != nullptr) {
      if (auto name = line_name(*fire_item)) {
        hc.fire = LineSpec{*name};
        written(*fire_item, *name, Role::fire, "");
      }
    }
    if (tamper_item != nullptr) tamper_readable = load_tamper(*tamper_item, tampers, tamper_listed);
    std::vector<LineSettings> settings;
    if (section != nullptr) {
      if (const Item* l = f.get("lines")) settings = load_lines(*l);
    }

    // Written names first, in file order, so a clash is reported at the later one.
    std::stable_sort(written_.begin(), written_.end(),
                     [](const Use& a, const Use& b) { return before(a.where, b.where); });
    for (auto& u : written_) add_use(std::move(u));
    std::stable_sort(readers_.begin(), readers_.end(),
                     [](const ReaderUse& a, const ReaderUse& b) { return before(a.where, b.where); });
    check_readers();

    // The simulator gets a line for everything the file leaves out.
    if (simulated) {
      if (fire_item == nullptr) {
        hc.fire = LineSpec{"fire-alarm"};
        const SourceMark at = section != nullptr ? section->where : SourceMark{1, 1};
        add_use(Use{"fire-alarm", Role::fire, "", at, "hardware.fire", true});
      }
      for (std::size_t i = 0; i < doors.size(); ++i) {
        if (door_listed[i] || i >= site_.door_items.size() || i >= site_.policy.doors.size()) continue;
        const std::string& id = site_.doors.name(i);
        DoorHardware d;
        d.door = id;
        d.index = static_cast<core::DoorIdx>(i);
        d.strike = made_up(i, site_.door_items, id + "-strike", Role::strike, id);
        d.sensor = made_up(i, site_.door_items, id + "-sensor", Role::sensor, id);
        if (site_.policy.doors[i].request_to_exit) d.rex = made_up(i, site_.door_items, id + "-rex", Role::rex, id);
        doors[i] = std::move(d);
      }
      for (std::size_t i = 0; i < gates.size(); ++i) {
        if (gate_listed[i] || i >= site_.gate_items.size()) continue;
        const std::string& id = site_.gates.name(i);
        GateHardware g;
        g.gate = id;
        g.index = static_cast<core::GateIdx>(i);
        g.clear = made_up(i, site_.gate_items, id + "-clear", Role::gate_clear, id);
        g.alarm = made_up(i, site_.gate_items, id + "-alarm", Role::gate_alarm, id);
        gates[i] = std::move(g);
      }
      for (std::size_t i = 0; i < tampers.size(); ++i) {
        if (tamper_listed[i] || i >= site_.tamper_items.size()) continue;
        const std::string& id = site_.tampers.name(i);
        tampers[i] = made_up(i, site_.tamper_items, id, Role::tamper, id);
      }
    }

    // A real gateway must name every line; real readers need a reader at every door.
    if (section != nullptr && (gpiod || nfc)) {
      const Item& doors_at = doors_item != nullptr ? *doors_item : *section;
      if (site_.doors_known && doors_readable) {
        for (std::size_t i = 0; i < doors.size(); ++i) {
          if (door_listed[i]) continue;
          std::string why;
          if (gpiod && nfc) {
            why = "with gpio: gpiod and readers: nfc every door must be listed with its strike, sensor and readers";
          } else if (gpiod) {
            why = "with gpio: gpiod every door must be listed with its strike and sensor lines";
          } else {
            why = "with readers: nfc every door must be listed with reader_in or reader_out";
          }
          r_.error(doors_at.where, child_path("hardware.doors", site_.doors.name(i)),
                   "missing hardware for door " + quoted(site_.doors.name(i)) + ": " + why);
        }
      }
      const Item& gates_at = gates_item != nullptr ? *gates_item : *section;
      if (gpiod && site_.gates_known && gates_readable) {
        for (std::size_t i = 0; i < gates.size(); ++i) {
          if (gate_listed[i]) continue;
          r_.error(gates_at.where, child_path("hardware.gates", site_.gates.name(i)),
                   "missing hardware for gate " + quoted(site_.gates.name(i)) +
                       ": with gpio: gpiod every gate must be listed with its clear and alarm lines");
        }
      }
      const Item& tamper_at = tamper_item != nullptr ? *tamper_item : *section;
      if (gpiod && site_.tampers_known && tamper_readable) {
        for (std::size_t i = 0; i < tampers.size(); ++i) {
          if (tamper_listed[i]) continue;
          r_.error(tamper_at.where, child_path("hardware.tamper", site_.tampers.name(i)),
                   "missing line for tamper input " + quoted(site_.tampers.name(i)) +
                       ": with gpio: gpiod every tamper input must be wired to a line");
        }
      }
    }

    apply_settings(settings);

    for (auto& d : doors) {
      if (!d) continue;
      for (auto* spec : {&d->reader_power, &d->strike, &d->sensor, &d->rex, &d->buzzer}) {
        if (*spec) configure(**spec);
      }
      hc.doors.push_back(std::move(*d));
    }
    for (auto& g : gates) {
      if (!g) continue;
      configure(g->clear);
      configure(g->alarm);
      hc.gates.push_back(std::move(*g));
    }
    if (hc.fire) configure(*hc.fire);
    for (std::size_t i = 0; i < tampers.size(); ++i) {
      if (!tampers[i]) continue;
      configure(*tampers[i]);
      hc.tamper.emplace_back(site_.tampers.name(i), std::move(*tampers[i]));
    }
    return hc;
  }

 private:
  // ---- values ----------------------------------------------------------------------------------

  std::optional<std::string> line_name(const Item& it) {
    const std::string* s = r_.scalar(it, "a GPIO line name");
    if (s == nullptr) return std::nullopt;
    if (!valid_line_name(*s)) {
      r_.error(it, "invalid line name " + quoted(*s) + ": a line name is 1 to 64 letters, digits, '_', '.' or '-'");
      return std::nullopt;
    }
    return *s;
  }

  std::optional<std::string> connstring(const Item& it) {
    const std::string* s = r_.scalar(it, "a libnfc connstring such as pn532_uart:/dev/ttyS1");
    if (s == nullptr) return std::nullopt;
    const bool blank = std::any_of(s->begin(), s->end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u <= 0x20U || u == 0x7FU;
    });
    if (s->empty()) {
      r_.error(it, "a reader connstring must not be empty (e.g. pn532_uart:/dev/ttyS1)");
    } else if (s->size() > kMaxConnstring) {
      r_.error(it, "the reader connstring is too long (" + std::to_string(s->size()) + " bytes, at most " +
                       std::to_string(kMaxConnstring) + ")");
    } else if (blank) {
      r_.error(it, "invalid reader connstring " + quoted(*s) + ": it must not contain spaces or control characters");
    } else {
      return *s;
    }
    return std::nullopt;
  }

  // ---- nfc --------------------------------------------------------------------------------------

  void load_nfc(const Fields& hw, std::optional<ReaderBackend> readers, NfcSettings& out) {
    const bool needed = readers == ReaderBackend::nfc;
    const Item* it = hw.get("nfc");
    if (it == nullptr) {
      if (needed) r_.missing(hw, "nfc", "(readers: nfc needs nfc.master_key_file and nfc.application)");
      return;
    }
    Fields f = r_.fields(
        *it, {"master_key_file", "application", "key_number", "system_identifier", "poll_interval", "hung_timeout"});
    if (!f.ok()) return;
    if (const Item* v = f.get("master_key_file")) {
      if (const std::string* s = r_.scalar(*v, "the name of the file holding the master key")) {
        if (s->empty()) {
          r_.error(*v, "the master key file name must not be empty");
        } else if (s->size() > kMaxPath) {
          r_.error(*v, "the master key file name is too long (" + std::to_string(s->size()) + " bytes, at most " +
                           std::to_string(kMaxPath) + ")");
        } else if (has_control(*s)) {
          r_.error(*v, "the master key file name must not contain control characters");
        } else if (s->size() == 32 && all_hex(*s)) {
          // Not echoed: this is very likely the key itself, and errors end up in logs.
          r_.error(*v,
                   "this looks like the key itself, not a file name: put the key in a file readable only by "
                   "the daemon (mode 0600) and name that file here");
        } else {
          out.master_key_file = *s;
        }
      }
    } else if (needed) {
      r_.missing(f, "master_key_file", "(required with readers: nfc)");
    }
    if (const Item* v = f.get("application")) {
      if (const std::string* s = r_.scalar(*v, "a DESFire AID of 6 hex digits, e.g. 5A4701")) {
        if (s->size() != 6 || !all_hex(*s)) {
          r_.error(*v, "invalid application " + quoted(*s) + ": a DESFire AID is exactly 6 hex digits, e.g. 5A4701");
        } else if (*s == "000000") {
          r_.error(*v,
                   "application 000000 is the card's master application, not an application of its own; "
                   "use the AID of the access-control application");
        } else {
          const std::vector<std::uint8_t> b = hex_bytes(*s);
          out.application = {b[2], b[1], b[0]};  // wire order: least significant byte first
        }
      }
    } else if (needed) {
      r_.missing(f, "application", "(required with readers: nfc)");
    }
    if (const Item* v = f.get("key_number")) {
      if (auto n = r_.whole_number(*v, 0, kMaxKeyNumber)) out.key_number = static_cast<std::uint8_t>(*n);
    }
    if (const Item* v = f.get("system_identifier")) {
      if (v->node->kind == Kind::null) {
        out.system_identifier.clear();
      } else if (const std::string* s = r_.scalar(*v, "hex digits, two per byte")) {
        if (!all_hex(*s) || s->size() % 2 != 0) {
          r_.error(*v, "invalid system_identifier " + quoted(*s) +
                           ": expected hex digits, two per byte, e.g. 7A6F6E6567617465");
        } else if (s->size() / 2 > kMaxSystemIdentifier) {
          r_.error(*v, "the system_identifier is " + std::to_string(s->size() / 2) + " bytes long (at most " +
                           std::to_string(kMaxSystemIdentifier) + ")");
        } else {
          out.system_identifier = hex_bytes(*s);
        }
      }
    }
    const Item* poll = f.get("poll_interval");
    const Item* hung = f.get("hung_timeout");
    bool poll_ok = true;
    bool hung_ok = true;
    if (poll != nullptr) {
      auto d = r_.duration(*poll, kPollLimits);
      poll_ok = d.has_value();
      if (d) out.poll_interval = *d;
    }
    if (hung != nullptr) {
      auto d = r_.duration(*hung, kHungLimits);
      hung_ok = d.has_value();
      if (d) out.hung_timeout = *d;
    }
    if (poll_ok && hung_ok && out.hung_timeout <= out.poll_interval && (poll != nullptr || hung != nullptr)) {
      const Item& at = hung != nullptr ? *hung : *poll;
      r_.error(at, "hung_timeout (" + format_duration(out.hung_timeout) + ") must be longer than poll_interval (" +
                       format_duration(out.poll_interval) + ")");
    }
  }

  // ---- doors, gates, fire, tamper ---------------------------------------------------------------

  /// False when the value is not a map (so completeness is not checked).
  bool load_doors(const Item& it, bool nfc, std::vector<std::optional<DoorHardware>>& doors,
                  std::vector<bool>& listed) {
    auto list = r_.entries(it);
    if (!list) return false;
    for (const auto& n : *list) {
      const auto index = site_.doors.find(n.key);
      if (!index && site_.doors_known) r_.unknown_name(n.item.where, n.item.path, n.key, site_.doors, "door", "doors");
      if (index && *index < listed.size()) listed[*index] = true;
      Fields f = r_.fields(n.item, {"reader_in", "reader_out", "reader_power", "strike", "sensor", "rex", "buzzer"});
      if (!f.ok()) continue;
      DoorHardware d;
      d.door = n.key;
      d.index = index ? static_cast<core::DoorIdx>(*index) : core::kNoIdx;
      for (std::string_view key : {"reader_in", "reader_out"}) {
        const Item* v = f.get(key);
        if (v == nullptr) continue;
        if (auto c = connstring(*v)) {
          (key == "reader_in" ? d.reader_in : d.reader_out) = *c;
          readers_.push_back(ReaderUse{*c, n.key, key, v->mark(), v->path});
        }
      }
      if (nfc && index && f.get("reader_in") == nullptr && f.get("reader_out") == nullptr && !f.misspelt("reader_in") &&
          !f.misspelt("reader_out")) {
        r_.error(
            n.item.where, n.item.path,
            "door " + quoted(n.key) + " has no reader: with readers: nfc every door needs reader_in or reader_out");
      }
      d.reader_power = door_line(f, "reader_power", Role::reader_power, n.key, false);
      d.strike = door_line(f, "strike", Role::strike, n.key, true);
      d.sensor = door_line(f, "sensor", Role::sensor, n.key, true);
      d.rex = door_line(f, "rex", Role::rex, n.key, false);
      d.buzzer = door_line(f, "buzzer", Role::buzzer, n.key, false);
      if (index && *index < doors.size()) doors[*index] = std::move(d);
    }
    return true;
  }

  std::optional<LineSpec> door_line(const Fields& f, std::string_view key, Role role, const std::string& door,
                                    bool required) {
    const Item* v = required ? r_.require(f, key) : f.get(key);
    if (v == nullptr) return std::nullopt;
    auto name = line_name(*v);
    if (!name) return std::nullopt;
    written(*v, *name, role, door);
    return LineSpec{*name};
  }

  bool load_gates(const Item& it, std::vector<std::optional<GateHardware>>& gates, std::vector<bool>& listed) {
    auto list = r_.entries(it);
    if (!list) return false;
    for (const auto& n : *list) {
      const auto index = site_.gates.find(n.key);
      if (!index && site_.gates_known) r_.unknown_name(n.item.where, n.item.path, n.key, site_.gates, "gate", "gates");
      if (index && *index < listed.size()) listed[*index] = true;
      Fields f = r_.fields(n.item, {"clear", "alarm"});
      if (!f.ok()) continue;
      GateHardware g;
      g.gate = n.key;
      g.index = index ? static_cast<core::GateIdx>(*index) : core::kNoIdx;
      bool ok = true;
      for (auto [key, role, into] : {std::tuple{std::string_view{"clear"}, Role::gate_clear, &g.clear},
                                     std::tuple{std::string_view{"alarm"}, Role::gate_alarm, &g.alarm}}) {
        const Item* v = r_.require(f, key);
        auto name = v != nullptr ? line_name(*v) : std::nullopt;
        if (!name) {
          ok = false;
          continue;
        }
        written(*v, *name, role, n.key);
        into->name = *name;
      }
      if (ok && index && *index < gates.size()) gates[*index] = std::move(g);
    }
    return true;
  }

  bool load_tamper(const Item& it, std::vector<std::optional<LineSpec>>& tampers, std::vector<bool>& listed) {
    auto list = r_.entries(it);
    if (!list) return false;
    for (const auto& n : *list) {
      const auto index = site_.tampers.find(n.key);
      if (!index && site_.tampers_known) {
        r_.unknown_name(n.item.where, n.item.path, n.key, site_.tampers, "tamper input", "tamper inputs");
      }
      if (index && *index < listed.size()) listed[*index] = true;
      auto name = line_name(n.item);
      if (!name) continue;
      written(n.item, *name, Role::tamper, n.key);
      if (index && *index < tampers.size()) tampers[*index] = LineSpec{*name};
    }
    return true;
  }

  std::vector<LineSettings> load_lines(const Item& it) {
    std::vector<LineSettings> out;
    auto list = r_.entries(it);
    if (!list) return out;
    out.reserve(list->size());  // `debounce_item` points into the element: no reallocation
    for (const auto& n : *list) {
      if (!valid_line_name(n.key)) {
        r_.error(n.item.where, n.item.path,
                 "invalid line name " + quoted(n.key) + ": a line name is 1 to 64 letters, digits, '_', '.' or '-'");
      }
      LineSettings& s = out.emplace_back();
      s.name = n.key;
      s.item = n.item;
      s.fields = r_.fields(n.item, {"active_low", "debounce"});
      if (!s.fields.ok()) continue;
      if (const Item* v = s.fields.get("active_low")) s.active_low = r_.boolean(*v);
      if ((s.debounce_item = s.fields.get("debounce")) != nullptr) {
        s.debounce = r_.duration(*s.debounce_item, kDebounceLimits);
      }
    }
    return out;
  }

  // ---- line and reader uses ---------------------------------------------------------------------

  void written(const Item& it, const std::string& name, Role role, const std::string& owner) {
    written_.push_back(Use{name, role, owner, it.mark(), it.path, false});
  }

  LineSpec made_up(std::size_t i, const std::vector<Item>& owners, std::string name, Role role,
                   const std::string& owner) {
    add_use(Use{name, role, owner, owners[i].where, owners[i].path, true});
    return LineSpec{std::move(name)};
  }

  void add_use(Use u) {
    auto [pos, fresh] = by_name_.emplace(u.name, uses_.size());
    if (fresh) {
      uses_.push_back(std::move(u));
      return;
    }
    const Use& first = uses_[pos->second];
    if (u.role == Role::reader_power && first.role == Role::reader_power) return;  // doors may share it
    if (!u.made_up) {
      r_.error(u.where, u.path,
               "line " + quoted(u.name) + " is already " + role_text(first.role, first.owner) + " (line " +
                   std::to_string(first.where.line) +
                   "); a line has one use (only doors may share a reader_power line)");
      return;
    }
    // A default name that clashes: report at the definition of its owner.
    std::string message = "the default line name " + quoted(u.name) + " of " + role_text(u.role, u.owner) +
                          " is already " + role_text(first.role, first.owner);
    message += first.made_up ? " (also a default name)" : " (line " + std::to_string(first.where.line) + ")";
    message += "; " + rename_hint(u.role, u.owner);
    r_.error(u.where, u.path, std::move(message));
  }

  void check_readers() {
    std::unordered_map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < readers_.size(); ++i) {
      const ReaderUse& u = readers_[i];
      auto [pos, fresh] = seen.emplace(u.connstring, i);
      if (fresh) continue;
      const ReaderUse& first = readers_[pos->second];
      r_.error(u.where, u.path,
               "reader " + quoted(u.connstring) + " is already the " + std::string(first.key) + " of door " +
                   quoted(first.door) + " (line " + std::to_string(first.where.line) +
                   "); a reader serves one side of one door");
    }
  }

  /// Checks `lines:` against the uses and keeps the settings of the good entries.
  void apply_settings(const std::vector<LineSettings>& settings) {
    for (const auto& s : settings) {
      if (!valid_line_name(s.name)) continue;  // reported
      auto use = by_name_.find(s.name);
      if (use == by_name_.end()) {
        r_.error(s.item.where, s.item.path,
                 "line " + quoted(s.name) + " is not used by any door, gate, fire or tamper input");
        continue;
      }
      const Use& u = uses_[use->second];
      if (s.debounce_item != nullptr && is_output(u.role)) {
        r_.error(*s.debounce_item, "debounce applies to inputs only; " + quoted(u.name) + " is " +
                                       role_text(u.role, u.owner) + ", an output");
        continue;
      }
      Settings& out = settings_[u.name];
      if (s.active_low) out.active_low = *s.active_low;
      if (s.debounce) out.debounce = *s.debounce;
    }
  }

  void configure(LineSpec& spec) const {
    auto it = settings_.find(spec.name);
    if (it == settings_.end()) return;
    spec.active_low = it->second.active_low;
    spec.debounce = it->second.debounce;
  }

  struct Settings {
    bool active_low = false;
    std::chrono::milliseconds debounce{20};
  };

  Reader& r_;
  const SiteNames& site_;
  std::vector<Use> written_;
  std::vector<Use> uses_;
  std::unordered_map<std::string, std::size_t> by_name_;
  std::vector<ReaderUse> readers_;
  std::unordered_map<std::string, Settings> settings_;
};

}  // namespace

HardwareConfig compile_hardware(Reader& reader, const Item* section, const SiteNames& site) {
  return HardwareCompiler(reader, site).run(section);
}

namespace {

/// True when a libpq connection string visibly carries a password: a `password=` keyword (any
/// case, any spacing around '='), `user:password@` in a URI, or `password=` in a URI's query.
/// libpq's own parser (adapters/upstream/dsn.hpp) checks it fully when zonegated starts; this
/// catches the common mistake early, in `zonegate check`, without linking libpq into the config.
bool dsn_names_password(std::string_view dsn) {
  std::string lower(dsn);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  const std::string_view s(lower);
  if (s.starts_with("postgresql://") || s.starts_with("postgres://")) {
    const std::size_t authority = s.find("://") + 3;
    const std::size_t end = s.find_first_of("/?", authority);
    const std::string_view auth = s.substr(authority, end == std::string_view::npos ? end : end - authority);
    const std::size_t at = auth.rfind('@');
    if (at != std::string_view::npos && auth.substr(0, at).find(':') != std::string_view::npos) return true;
    const std::size_t q = s.find('?');
    return q != std::string_view::npos &&
           (s.find("?password=", q) != std::string_view::npos || s.find("&password=", q) != std::string_view::npos);
  }
  for (std::size_t pos = s.find("password"); pos != std::string_view::npos; pos = s.find("password", pos + 1)) {
    const bool starts_word = pos == 0 || s[pos - 1] == ' ' || s[pos - 1] == '\t' || s[pos - 1] == '\n';
    std::size_t i = pos + 8;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (starts_word && i < s.size() && s[i] == '=') return true;
  }
  return false;
}

/// A file name for libpq (passfile, certificates, key): non-empty, bounded, no control characters.
void upstream_path(Reader& reader, const Fields& f, std::string_view key, std::string& out) {
  const Item* v = f.get(key);
  if (v == nullptr) return;
  const std::string* s = reader.scalar(*v, "a file name");
  if (s == nullptr) return;
  if (s->empty()) {
    reader.error(*v, "the file name must not be empty (leave the key out for libpq's default)");
  } else if (s->size() > kMaxPath) {
    reader.error(*v, "the file name is too long (" + std::to_string(s->size()) + " bytes, at most " +
                         std::to_string(kMaxPath) + ")");
  } else if (has_control(*s)) {
    reader.error(*v, "the file name must not contain control characters");
  } else {
    out = *s;
  }
}

std::optional<UpstreamSettings> compile_upstream(Reader& reader, const Item& section) {
  Fields f = reader.fields(section, {"dsn", "passfile", "sslmode", "sslrootcert", "sslcert", "sslkey", "batch",
                                     "pull_interval", "backoff_max", "timeout"});
  if (!f.ok()) return std::nullopt;
  UpstreamSettings out;
  bool ok = true;
  if (const Item* v = reader.require(f, "dsn")) {
    if (const std::string* s =
            reader.scalar(*v, "a libpq connection string such as \"host=central dbname=zonegate\"")) {
      if (s->empty()) {
        reader.error(*v, "the connection string must not be empty");
        ok = false;
      } else if (s->size() > kMaxDsn) {
        reader.error(*v, "the connection string is too long (" + std::to_string(s->size()) + " bytes, at most " +
                             std::to_string(kMaxDsn) + ")");
        ok = false;
      } else if (has_control(*s)) {
        reader.error(*v, "the connection string must not contain control characters");
        ok = false;
      } else if (dsn_names_password(*s)) {
        // Not echoed: the message would put the password into logs.
        reader.error(*v,
                     "the connection string holds a password; put it in a libpq passfile (mode 0600) and "
                     "name that file in daemon.upstream.passfile");
        ok = false;
      } else {
        out.dsn = *s;
        out.dsn_line = v->mark().line;
        out.dsn_column = v->mark().column;
      }
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  upstream_path(reader, f, "passfile", out.passfile);
  upstream_path(reader, f, "sslrootcert", out.sslrootcert);
  upstream_path(reader, f, "sslcert", out.sslcert);
  upstream_path(reader, f, "sslkey", out.sslkey);
  if (const Item* v = f.get("sslmode")) {
    if (auto m = reader.choice(*v, kSslModes, "sslmode")) out.sslmode = std::string(*m);
  }
  if (!out.sslcert.empty() && out.sslkey.empty()) {
    reader.error(*f.get("sslcert"), "a client certificate needs its key: set daemon.upstream.sslkey too");
  } else if (out.sslcert.empty() && !out.sslkey.empty()) {
    reader.error(*f.get("sslkey"), "a client key needs its certificate: set daemon.upstream.sslcert too");
  }
  if (const Item* v = f.get("batch")) {
    if (auto n = reader.whole_number(*v, 1, 100000)) out.batch = static_cast<std::uint32_t>(*n);
  }
  if (const Item* v = f.get("pull_interval")) {
    if (auto d = reader.duration(*v, kPullIntervalLimits)) out.pull_interval = *d;
  }
  if (const Item* v = f.get("backoff_max")) {
    if (auto d = reader.duration(*v, kBackoffMaxLimits)) out.backoff_max = *d;
  }
  if (const Item* v = f.get("timeout")) {
    if (auto d = reader.duration(*v, kUpstreamTimeoutLimits)) out.timeout = *d;
  }
  if (!ok) return std::nullopt;
  return out;
}

/// `daemon.console`. The listen address must be a literal (no name lookup at start-up): the
/// console's reach is a security decision an administrator makes explicitly.
std::optional<ConsoleConfig> compile_console(Reader& reader, const Item& section) {
  Fields f = reader.fields(section, {"listen", "cert", "key", "session_idle"});
  if (!f.ok()) return std::nullopt;
  ConsoleConfig out;
  bool ok = true;
  if (const Item* v = f.get("listen")) {
    if (const std::string* s = reader.scalar(*v, "an address and port such as 127.0.0.1:8443 or [::1]:8443")) {
      std::string host;
      std::string port;
      if (!s->empty() && s->front() == '[') {
        const auto close = s->find(']');
        if (close != std::string::npos && close + 1 < s->size() && (*s)[close + 1] == ':') {
          host = s->substr(1, close - 1);
          port = s->substr(close + 2);
        }
      } else if (const auto colon = s->rfind(':'); colon != std::string::npos && s->find(':') == colon) {
        host = s->substr(0, colon);
        port = s->substr(colon + 1);
      }
      unsigned char addr[16];
      const bool literal = inet_pton(AF_INET, host.c_str(), addr) == 1 || inet_pton(AF_INET6, host.c_str(), addr) == 1;
      const bool port_ok = !port.empty() && port.size() <= 5 &&
                           std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                           std::stoul(port) >= 1 && std::stoul(port) <= 65535;
      if (host.empty() || !literal || !port_ok) {
        reader.error(*v, "invalid listen address " + quoted(*s) +
                             ": expected an IP address and a port 1-65535, e.g. 127.0.0.1:8443 or [::1]:8443");
        ok = false;
      } else {
        out.host = host;
        out.port = static_cast<std::uint16_t>(std::stoul(port));
      }
    } else {
      ok = false;
    }
  }
  upstream_path(reader, f, "cert", out.cert);
  upstream_path(reader, f, "key", out.key);
  if (out.cert.empty() != out.key.empty()) {
    reader.error(*f.get(out.cert.empty() ? "key" : "cert"),
                 "the console's certificate and key go together: set both daemon.console.cert and "
                 "daemon.console.key, or neither (a self-signed pair is generated)");
    ok = false;
  }
  if (const Item* v = f.get("session_idle")) {
    if (auto d = reader.duration(*v, kSessionIdleLimits)) out.session_idle = *d;
  }
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace

DaemonSettings compile_daemon(Reader& reader, const Item* section) {
  DaemonSettings out;
  if (section == nullptr) return out;
  Fields f =
      reader.fields(*section, {"gateway_id", "audit", "control_socket_group", "log_level", "upstream", "console"});
  if (!f.ok()) return out;
  if (const Item* v = reader.require(f, "gateway_id")) {
    if (const std::string* s = reader.scalar(*v, "a gateway id such as gw-site-01")) {
      const bool charset = std::all_of(
          s->begin(), s->end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
      if (s->empty() || s->size() > kMaxGatewayId || !charset) {
        reader.error(*v, "invalid gateway_id " + quoted(*s) + ": 1 to 63 lower-case letters, digits or '-'");
      } else {
        out.gateway_id = *s;
      }
    }
  }
  if (const Item* a = f.get("audit")) {
    Fields audit = reader.fields(*a, {"checkpoint_every", "checkpoint_interval", "retention"});
    if (audit.ok()) {
      if (const Item* v = audit.get("checkpoint_every")) {
        if (auto n = reader.whole_number(*v, 1, 1000000)) out.checkpoint_every = static_cast<std::uint32_t>(*n);
      }
      if (const Item* v = audit.get("checkpoint_interval")) {
        if (auto d = reader.duration(*v, kCheckpointLimits)) out.checkpoint_interval = *d;
      }
      if (const Item* v = audit.get("retention")) {
        if (auto d = reader.duration(*v, kRetentionLimits)) {
          if (d->count() % 3600000 != 0) {
            reader.error(*v, "the retention must be a whole number of hours, e.g. 400d or 36h");
          } else {
            out.retention = std::chrono::duration_cast<std::chrono::hours>(*d);
          }
        }
      }
    }
  }
  if (const Item* v = f.get("control_socket_group")) {
    if (const std::string* s = reader.scalar(*v, "a group name")) {
      const bool charset = std::all_of(s->begin(), s->end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
               c == '-';
      });
      if (s->empty() || s->size() > kMaxGroupName || !charset || s->front() == '-' || all_digits(*s)) {
        reader.error(*v, "invalid group name " + quoted(*s) +
                             ": 1 to 32 letters, digits, '_', '.' or '-', not starting with '-' and not a number");
      } else {
        out.control_socket_group = *s;
      }
    }
  }
  if (const Item* v = f.get("log_level")) {
    if (auto level = reader.choice(*v, kLogLevels, "log_level")) out.log_level = std::string(*level);
  }
  if (const Item* v = f.get("upstream")) out.upstream = compile_upstream(reader, *v);
  if (const Item* v = f.get("console")) out.console = compile_console(reader, *v);
  return out;
}

}  // namespace zonegate::config::detail
