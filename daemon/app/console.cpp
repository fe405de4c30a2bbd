// SPDX-License-Identifier: Apache-2.0
#include "app/console.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "adapters/web/operator_store.hpp"
#include "app/log.hpp"

namespace zonegate::app {

using adapters::web::SiteResult;
using nlohmann::json;

namespace {

// Role checks happen in the console (the role matrix); a guard acting through it holds every
// guard capability, as a local operator on the control socket does.
constexpr core::CapabilityMask kGuardCaps =
    core::cap_bit(core::Capability::forgive) | core::cap_bit(core::Capability::release) |
    core::cap_bit(core::Capability::lockdown) | core::cap_bit(core::Capability::unlock);

// Refetch hints are coalesced: a burst of records (a group passing a gate) makes one message.
constexpr auto kHintDelay = std::chrono::milliseconds(150);

std::string door_state(const core::DoorStatus& s) {
  if (s.forced) return "forced";
  if (s.held_alarm) return "held_open";
  if (s.held_prealarm) return "held_prealarm";
  if (s.open) return "open";
  return "closed";
}

}  // namespace

Console::Console(boost::asio::io_context& io, Controller& controller, ports::Clock& clock,
                 adapters::audit::AuditStore& audit, adapters::credentials::CredentialStore& credentials,
                 std::filesystem::path state_dir, std::string gateway_id, ConsoleSettings settings,
                 adapters::web::ServerLimits limits)
    : io_(io),
      controller_(controller),
      clock_(clock),
      audit_(audit),
      credentials_(credentials),
      state_dir_(std::move(state_dir)),
      gateway_id_(std::move(gateway_id)),
      settings_(std::move(settings)),
      limits_(limits),
      hint_timer_(io) {}

Console::~Console() { stop(); }

std::optional<std::string> Console::start() {
  auto operators = adapters::web::OperatorStore::open(state_dir_ / adapters::web::kOperatorDbFile);
  if (!operators) return "operator store: " + operators.error().message;
  adapters::web::ApiOptions options;
  options.sessions.idle = settings_.session_idle;
  options.open_audit_reader = [dir = state_dir_, gw = gateway_id_]() {
    adapters::audit::Options o;
    o.state_dir = dir;
    o.gateway_id = gw;
    o.read_only = true;
    return adapters::audit::AuditStore::open(o);
  };
  api_ = std::make_unique<adapters::web::Api>(io_, clock_, *this, audit_, credentials_, std::move(*operators),
                                              std::move(options));
  server_ = std::make_unique<adapters::web::HttpsServer>(
      io_, settings_, state_dir_, *api_, limits_,
      [](int level, const std::string& message) { Log::write(static_cast<LogLevel>(level), message); });
  if (auto err = server_->start()) {
    server_.reset();
    api_.reset();
    return err;
  }
  controller_.set_alarm_observer([this](const ActiveAlarm& a) { on_alarm(a); });
  controller_.set_record_observer([this](const core::Record& r) { on_record(r); });
  return std::nullopt;
}

void Console::stop() {
  if (!server_ && !api_) return;
  controller_.set_alarm_observer({});
  controller_.set_record_observer({});
  hint_timer_.cancel();
  if (server_) server_->stop();
  if (api_) api_->stop();
}

std::string Console::url() const { return server_ ? server_->url() : std::string(); }
std::uint16_t Console::port() const { return server_ ? server_->port() : 0; }

// ---- live push ------------------------------------------------------------------------------

json Console::alarm_json(const ActiveAlarm& a) {
  return json{{"id", a.id},
              {"kind", core::to_string(a.alarm.kind)},
              {"severity", core::to_string(a.alarm.severity)},
              {"source", a.alarm.source},
              {"person", a.alarm.person},
              {"detail", a.alarm.detail},
              {"at", core::format_utc(a.alarm.at)},
              {"acknowledged", a.acknowledged},
              {"ack_by", a.ack_by},
              {"ack_note", a.ack_note}};
}

void Console::on_alarm(const ActiveAlarm& alarm) {
  // Pushed at once, not coalesced: the guard's screen must show it within 100 ms.
  if (server_)
    server_->broadcast(json{{"type", "alarm"}, {"alarm", alarm_json(alarm)}}, adapters::web::Action::view_alarms);
  hint_doors_ = true;
  schedule_hints();
}

void Console::on_record(const core::Record& record) {
  if (const auto* d = std::get_if<core::Decision>(&record)) {
    if (d->verdict == core::Verdict::grant) hint_occupancy_ = true;
  } else if (const auto* n = std::get_if<core::Note>(&record)) {
    if (n->kind == "moved" || n->kind == "held" || n->kind == "hold_lifted" || n->kind.rfind("guard_", 0) == 0 ||
        n->kind.rfind("fire_", 0) == 0) {
      hint_occupancy_ = true;
    }
    hint_doors_ = true;
  } else {
    hint_doors_ = true;
  }
  schedule_hints();
}

void Console::schedule_hints() {
  if (hint_armed_ || !server_) return;
  hint_armed_ = true;
  hint_timer_.expires_after(kHintDelay);
  hint_timer_.async_wait([this](const boost::system::error_code& ec) {
    hint_armed_ = false;
    if (ec || !server_) return;
    if (hint_doors_) server_->broadcast(json{{"type", "doors"}}, adapters::web::Action::view_doors);
    if (hint_occupancy_) server_->broadcast(json{{"type", "occupancy"}}, adapters::web::Action::view_occupancy);
    hint_doors_ = false;
    hint_occupancy_ = false;
  });
}

// ---- views ----------------------------------------------------------------------------------

const core::Policy& Console::policy() const { return controller_.engine().policy(); }

json Console::alarms() const {
  json out = json::array();
  const auto& list = controller_.alarms();
  // Newest first: the guard reads from the top.
  for (auto it = list.rbegin(); it != list.rend(); ++it) out.push_back(alarm_json(*it));
  return json{{"alarms", std::move(out)}};
}

json Console::doors() const {
  const core::Engine& engine = controller_.engine();
  const core::Policy& p = engine.policy();
  const auto lockdowns = engine.lockdowns();
  const auto held = engine.held();
  json doors = json::array();
  for (std::size_t i = 0; i < p.doors.size(); ++i) {
    const auto d = static_cast<core::DoorIdx>(i);
    const auto& s = engine.door_status(d);
    const bool locked_down = std::any_of(lockdowns.begin(), lockdowns.end(), [&](core::ZoneIdx z) {
      return p.zone_within(p.doors[i].inner, z) || p.zone_within(p.doors[i].outer, z);
    });
    json held_here = json::array();
    for (const auto& h : held) {
      if (h.door == d) held_here.push_back(h.person);
    }
    doors.push_back({{"id", p.doors[i].id},
                     {"name", p.doors[i].id},
                     {"state", door_state(s)},
                     {"locked", !s.unlocked},
                     {"lockdown", locked_down},
                     {"fire_release", s.fire_release},
                     {"inner", p.zones[p.doors[i].inner].id},
                     {"outer", p.zones[p.doors[i].outer].id},
                     {"held", std::move(held_here)}});
  }
  json zones = json::array();
  for (const auto z : lockdowns) zones.push_back(p.zones[z].id);
  return json{{"doors", std::move(doors)}, {"fire", engine.fire_active()}, {"lockdown_zones", std::move(zones)}};
}

json Console::occupancy() const {
  const core::Engine& engine = controller_.engine();
  const core::Policy& p = engine.policy();
  // Display names come from the badge database; one short indexed query per person present.
  const auto person_json = [&](const std::string& id) {
    adapters::credentials::ListOptions lo;
    lo.person = id;
    lo.limit = 1;
    std::string name;
    if (auto b = credentials_.list(lo); b && !b->empty()) name = b->front().name;
    // Since when they are where they are listed (or unknown), for the guard's muster: from the
    // event that moved them; null if not known (placed without a time, or before a restart).
    const auto since = engine.location_since(id);
    return json{{"person", id}, {"name", name}, {"since", since ? json(core::format_utc(*since)) : json(nullptr)}};
  };
  json zones = json::array();
  json outside = json::array();
  for (std::size_t i = 0; i < p.zones.size(); ++i) {
    const auto z = static_cast<core::ZoneIdx>(i);
    json people = json::array();
    for (const auto& id : engine.people_in(z)) people.push_back(person_json(id));
    if (p.zones[i].parent == core::kNoIdx) {
      outside = std::move(people);
      continue;
    }
    zones.push_back({{"id", p.zones[i].id},
                     {"name", p.zones[i].id},
                     {"occupancy", engine.occupancy(z)},
                     {"max", p.zones[i].max_occupancy},
                     {"people", std::move(people)}});
  }
  json unknown = json::array();
  for (const auto& id : engine.unknown_locations()) unknown.push_back(person_json(id));
  return json{{"zones", std::move(zones)}, {"outside", std::move(outside)}, {"unknown", std::move(unknown)}};
}

// ---- actions --------------------------------------------------------------------------------

SiteResult Console::run_guard(core::GuardCommand command, const std::string& actor) {
  const json result = controller_.guard(std::move(command), Operator{actor, kGuardCaps});
  // The engine records every guard action (refusals too) in the audit trail naming the actor.
  for (const auto& n : result.value("notes", json::array())) {
    if (n.value("kind", "") == "guard_refused") {
      return SiteResult::fail(409, "refused", "refused: " + n.value("detail", std::string()));
    }
  }
  return SiteResult::ok(result);
}

SiteResult Console::acknowledge(std::uint64_t alarm_id, const std::string& actor, const std::string& note) {
  const auto err = controller_.acknowledge(alarm_id, Operator{actor, 0}, note);
  if (err) {
    const bool missing = err->rfind("no alarm", 0) == 0;
    return SiteResult::fail(missing ? 404 : 409, missing ? "not_found" : "conflict", *err);
  }
  const auto& list = controller_.alarms();
  const auto it = std::find_if(list.begin(), list.end(), [&](const ActiveAlarm& a) { return a.id == alarm_id; });
  json alarm = it != list.end() ? alarm_json(*it) : json{{"id", alarm_id}};
  if (server_) {
    server_->broadcast(json{{"type", "alarm_ack"}, {"id", alarm_id}, {"ack_by", actor}, {"ack_note", note}},
                       adapters::web::Action::view_alarms);
  }
  return SiteResult::ok(json{{"alarm", std::move(alarm)}});
}

SiteResult Console::unlock(const std::string& door, const std::string& actor, const std::string& reason) {
  const auto d = policy().door_index(door);
  if (!d) return SiteResult::fail(404, "not_found", "no door '" + door + "'");
  core::GuardCommand g;
  g.action = core::GuardAction::unlock;
  g.door = *d;
  g.note = reason;
  return run_guard(std::move(g), actor);
}

SiteResult Console::release(const std::string& door, const std::optional<std::string>& person, const std::string& actor,
                            const std::string& note) {
  const auto d = policy().door_index(door);
  if (!d) return SiteResult::fail(404, "not_found", "no door '" + door + "'");
  core::GuardCommand g;
  g.action = core::GuardAction::release;
  g.door = *d;
  if (person && !person->empty()) g.person = *person;
  g.note = note;
  return run_guard(std::move(g), actor);
}

SiteResult Console::lockdown(bool lift, const std::optional<std::string>& zone, const std::string& actor,
                             const std::string& reason) {
  core::GuardCommand g;
  g.action = lift ? core::GuardAction::lift : core::GuardAction::lockdown;
  if (zone && !zone->empty()) {
    const auto z = policy().zone_index(*zone);
    if (!z) return SiteResult::fail(404, "not_found", "no zone '" + *zone + "'");
    g.zone = *z;
  }
  g.note = reason;
  return run_guard(std::move(g), actor);
}

void Console::record(adapters::web::AuditKind kind, const std::string& actor, const std::string& event,
                     const std::string& detail, const std::string& person, const std::string& badge) {
  controller_.record_operator_action(Operator{actor, 0}, event, detail, person, badge,
                                     kind == adapters::web::AuditKind::export_
                                         ? adapters::audit::EntryKind::export_
                                         : adapters::audit::EntryKind::operator_action);
}

bool Console::audit_writable() const { return !controller_.audit_degraded(); }

}  // namespace zonegate::app
