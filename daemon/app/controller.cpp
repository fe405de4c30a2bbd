// SPDX-License-Identifier: Apache-2.0
#include "app/controller.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <utility>

#include "app/log.hpp"
#include "sim/sim_lines.hpp"
#include "sim/sim_reader.hpp"

namespace zonegate::app {
namespace {

using adapters::audit::Entry;
using adapters::audit::EntryKind;
using nlohmann::json;

std::string ms_text(core::Duration d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

Controller::Controller(boost::asio::io_context& io, ports::Clock& clock, adapters::audit::AuditStore& audit,
                       adapters::credentials::CredentialStore& credentials, ports::GpioLines& lines,
                       std::vector<std::unique_ptr<ports::BadgeReader>> readers, const config::LoadResult& config,
                       ControllerOptions options)
    : io_(io),
      clock_(clock),
      audit_(audit),
      credentials_(credentials),
      lines_(lines),
      readers_(std::move(readers)),
      hardware_(config.hardware),
      settings_(config.daemon),
      options_(options),
      engine_(config.policy),
      retry_timer_(io),
      engine_timer_(io) {
  const core::Policy& p = engine_.policy();
  for (const auto& d : hardware_->doors) {
    for (core::Direction dir : {core::Direction::in, core::Direction::out}) {
      reader_bindings_[config::sim_reader_id(d.door, dir)] = ReaderBinding{d.index, dir, false};
    }
  }
  buzzer_on_.assign(p.doors.size(), false);
}

Controller::~Controller() { stop(); }

const config::DoorHardware* Controller::door_hw(core::DoorIdx door) const {
  for (const auto& d : hardware_->doors) {
    if (d.index == door) return &d;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Start / stop
// ---------------------------------------------------------------------------------------------

std::optional<std::string> Controller::start() {
  const core::Policy& p = engine_.policy();
  started_at_ = clock_.now();
  // Outputs first, all inactive: strikes locked before any input can ask to open them.
  for (const auto& d : hardware_->doors) {
    for (const auto* spec : {&d.strike, &d.buzzer, &d.reader_power}) {
      if (!*spec) continue;
      ports::OutputConfig oc;
      oc.active_low = (*spec)->active_low;
      // Reader power is on by default; strikes and buzzers off (locked, silent).
      oc.initial_active = spec == &d.reader_power;
      if (auto err = lines_.request_output((*spec)->name, oc)) {
        // A shared reader-power line is requested once; a second request for it is fine.
        if (spec == &d.reader_power) continue;
        return err;
      }
    }
  }
  // Line events go through handle_input() under the line's name, so a simulated change waiting
  // for its commit (sim_door() etc.) learns which records it caused.
  const auto input = [this](const config::LineSpec& spec, ports::LineCallback cb) -> std::optional<std::string> {
    ports::InputConfig ic;
    ic.active_low = spec.active_low;
    ic.debounce = spec.debounce;
    return lines_.request_input(spec.name, ic, std::move(cb));
  };
  for (const auto& d : hardware_->doors) {
    const core::DoorIdx door = d.index;
    if (d.sensor) {
      if (auto err = input(*d.sensor, [this, door, key = "line:" + d.sensor->name](bool open) {
            handle_input(key, core::DoorSensor{door, open});
          })) {
        return err;
      }
    }
    if (d.rex) {
      if (auto err = input(*d.rex, [this, door, key = "line:" + d.rex->name](bool active) {
            if (active) handle_input(key, core::RexPressed{door});
          })) {
        return err;
      }
    }
  }
  for (const auto& g : hardware_->gates) {
    const core::GateIdx gate = g.index;
    if (auto err = input(g.clear, [this, gate, key = "line:" + g.clear.name](bool active) {
          if (active) handle_input(key, core::GateSignal{gate, core::GateSignalKind::clear});
        })) {
      return err;
    }
    if (auto err = input(g.alarm, [this, gate, key = "line:" + g.alarm.name](bool active) {
          if (active) handle_input(key, core::GateSignal{gate, core::GateSignalKind::alarm});
        })) {
      return err;
    }
  }
  if (hardware_->fire) {
    if (auto err = input(*hardware_->fire, [this, key = "line:" + hardware_->fire->name](bool active) {
          handle_input(key, core::FireInput{active});
        })) {
      return err;
    }
  }
  for (const auto& [id, spec] : hardware_->tamper) {
    const auto idx = p.tamper_index(id);
    if (!idx) continue;
    const std::uint16_t t = *idx;
    if (auto err = input(spec, [this, t, key = "line:" + spec.name](bool active) {
          handle_input(key, core::TamperSignal{t, active});
        })) {
      return err;
    }
  }
  for (auto& r : readers_) {
    r->start([this](const ports::CardRead& c) { on_card(c); },
             [this](const ports::ReaderStatus& s) { on_reader_status(s); });
  }
  append_entry(Entry{clock_.now(),
                     EntryKind::system,
                     "start",
                     {},
                     {},
                     {},
                     {},
                     "sha256:" + p.source_hash,
                     "gateway " + settings_->gateway_id + ", site " + p.site_name});
  started_ = true;
  arm_timer();
  return std::nullopt;
}

void Controller::stop() {
  if (!started_) return;
  started_ = false;
  for (auto& r : readers_) r->stop();
  engine_timer_.cancel();
  retry_timer_.cancel();
  append_entry(Entry{clock_.now(), EntryKind::system, "stop", {}, {}, {}, {}, {}, "clean shutdown"});
  flush();
  // Inputs still waiting for their event will not see it: each is told exactly once.
  while (!waiters_.empty()) give_up_waiter(waiters_.front().id);
  // Leave every strike locked.
  for (const auto& d : hardware_->doors) {
    if (d.strike) (void)lines_.set(d.strike->name, false);
  }
  lines_.close();
}

// ---------------------------------------------------------------------------------------------
// Reload
// ---------------------------------------------------------------------------------------------

bool Controller::reload(const config::LoadResult& result, const std::string& path) {
  const core::Instant now = clock_.now();
  if (!result.ok()) {
    std::string first;
    for (const auto& e : result.errors) {
      Log::error("reload rejected: " + e.to_string());
      if (first.empty()) first = e.to_string();
    }
    Log::warning("reload of " + path + " rejected (" + std::to_string(result.errors.size()) +
                 " errors); the running policy stays in force");
    append_entry(Entry{now,
                       EntryKind::config,
                       "reload_rejected",
                       {},
                       {},
                       {},
                       {},
                       "sha256:" + engine_.policy().source_hash,
                       std::to_string(result.errors.size()) + " errors; first: " + first});
    flush();
    return false;
  }
  engine_.replace_policy(result.policy, now, effects_);
  collect(effects_);
  append_entry(Entry{now,
                     EntryKind::config,
                     "reload",
                     {},
                     {},
                     {},
                     {},
                     "sha256:" + result.policy->source_hash,
                     "policy of " + path + " in force"});
  Log::notice("reloaded " + path + " (sha256 " + result.policy->source_hash +
              "); hardware wiring changes take effect at the next start");
  settings_ = result.daemon;
  flush();
  arm_timer();
  return true;
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

void Controller::on_card(const ports::CardRead& read) {
  auto it = reader_bindings_.find(read.reader_id);
  if (it == reader_bindings_.end()) {
    Log::warning("card read on unknown reader " + read.reader_id);
    return;
  }
  core::BadgePresented e;
  e.door = it->second.door;
  e.dir = it->second.dir;
  e.badge = read.uid_hex;
  e.presented = read.auth_failed ? core::CredentialKind::uid : read.kind;
  e.auth_failed = read.auth_failed;
  // The credential store answers from an indexed SQLite table in microseconds.
  e.holder = credentials_.lookup(read.uid_hex, engine_.policy());
  handle_input("card:" + read.reader_id + ":" + read.uid_hex, e);
}

void Controller::on_reader_status(const ports::ReaderStatus& status) {
  const std::size_t records_begin = pending_records_.size();
  const std::size_t entries_begin = pending_entries_.size();
  auto it = reader_bindings_.find(status.reader_id);
  if (it != reader_bindings_.end()) it->second.online = status.online;
  append_entry(Entry{clock_.now(),
                     EntryKind::reader,
                     status.online ? "online" : "offline",
                     {},
                     {},
                     {},
                     {},
                     status.reader_id,
                     status.detail});
  // Readers report an outage once; a reader that was never online is an outage too.
  if (!status.online) {
    raise_adapter_alarm(core::AlarmKind::reader_offline, status.reader_id, status.detail);
  }
  Log::write(status.online ? LogLevel::info : LogLevel::warning,
             "reader " + status.reader_id + (status.online ? " online" : " offline") +
                 (status.detail.empty() ? "" : ": " + status.detail));
  match_waiter("reader:" + status.reader_id, records_begin, entries_begin);
  schedule_flush();
}

void Controller::submit(const core::Event& event) { handle_engine(event); }

void Controller::tick() {
  engine_.advance(clock_.now(), effects_);
  collect(effects_);
  schedule_flush();
  arm_timer();
}

void Controller::periodic() {
  if (degraded_ || !audit_.should_checkpoint(clock_.now())) return;
  auto cp = audit_.checkpoint(clock_.now());
  if (!cp) Log::error("audit trail: checkpoint failed: " + cp.error().message);
}

void Controller::handle_engine(const core::Event& event) {
  engine_.handle(event, clock_.now(), effects_);
  collect(effects_);
  schedule_flush();
  arm_timer();
}

void Controller::handle_input(const std::string& key, const core::Event& event) {
  const std::size_t records_begin = pending_records_.size();
  const std::size_t entries_begin = pending_entries_.size();
  handle_engine(event);
  match_waiter(key, records_begin, entries_begin);
}

// ---------------------------------------------------------------------------------------------
// Inputs awaiting their commit
// ---------------------------------------------------------------------------------------------

std::uint64_t Controller::await_event(std::string key, CommitHandler done, std::optional<core::Duration> patience) {
  Waiter w;
  w.id = next_waiter_id_++;
  w.key = std::move(key);
  w.done = std::move(done);
  if (patience) {
    // A line set to the level it already has produces no edge; the waiter must not wait forever.
    // The timer lives in the waiter: erasing the waiter cancels it, and then it touches nothing.
    w.deadline = std::make_unique<boost::asio::steady_timer>(io_, *patience);
    w.deadline->async_wait([this, id = w.id](const boost::system::error_code& ec) {
      if (!ec) give_up_waiter(id);
    });
  }
  const std::uint64_t id = w.id;
  waiters_.push_back(std::move(w));
  return id;
}

void Controller::await_pending(std::size_t records_begin, std::size_t entries_begin, CommitHandler done) {
  if (waiters_full()) {
    // Callers check first (the action is already done here); never grow the list past its bound.
    boost::asio::post(io_, [done = std::move(done)] {
      CommitReport report;
      report.durable = false;
      report.queued_reason = busy_text();
      done(report);
    });
    return;
  }
  Waiter w;
  w.id = next_waiter_id_++;
  w.matched = true;
  w.records_begin = records_begin;
  w.records_end = pending_records_.size();
  w.entries_begin = entries_begin;
  w.entries_end = pending_entries_.size();
  w.done = std::move(done);
  waiters_.push_back(std::move(w));
  // The batch is resolved by the next flush, even when the action caused no record at all.
  schedule_flush();
}

void Controller::match_waiter(const std::string& key, std::size_t records_begin, std::size_t entries_begin) {
  // First come, first served: inputs under one key reach the engine in the order they were made.
  auto it = std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return !w.matched && w.key == key; });
  if (it == waiters_.end()) return;
  it->matched = true;
  it->records_begin = records_begin;
  it->records_end = pending_records_.size();
  it->entries_begin = entries_begin;
  it->entries_end = pending_entries_.size();
  if (it->deadline) it->deadline->cancel();
  schedule_flush();
}

void Controller::give_up_waiter(std::uint64_t id) {
  auto it = std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.id == id; });
  if (it == waiters_.end() || it->matched) return;
  CommitHandler done = std::move(it->done);
  waiters_.erase(it);
  CommitReport report;
  report.observed = false;
  if (done) done(report);
}

std::vector<std::pair<CommitHandler, CommitReport>> Controller::resolve_waiters(
    const std::vector<core::Record>& records, adapters::audit::Seq record_seq0, std::size_t entry_count,
    adapters::audit::Seq entry_seq0, bool records_durable, bool entries_durable) {
  std::vector<std::pair<CommitHandler, CommitReport>> ready;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (!it->matched) {
      ++it;
      continue;
    }
    CommitReport report;
    const std::size_t rb = std::min(it->records_begin, records.size());
    const std::size_t re = std::min(it->records_end, records.size());
    const std::size_t eb = std::min(it->entries_begin, entry_count);
    const std::size_t ee = std::min(it->entries_end, entry_count);
    for (std::size_t i = rb; i < re; ++i) {
      report.records.push_back(records[i]);
      report.seqs.push_back(records_durable ? record_seq0 + i : 0);
    }
    report.entries = ee - eb;
    if (entries_durable) {
      for (std::size_t i = eb; i < ee; ++i) report.entry_seqs.push_back(entry_seq0 + i);
    }
    // Durable only if everything it caused is: never claim more than the disk holds.
    report.durable = (re == rb || records_durable) && (ee == eb || entries_durable);
    if (!report.durable) report.queued_reason = degraded_reason_.empty() ? "audit trail unavailable" : degraded_reason_;
    ready.emplace_back(std::move(it->done), std::move(report));
    it = waiters_.erase(it);
  }
  return ready;
}

void Controller::collect(core::Effects& effects) {
  for (auto& r : effects.records) pending_records_.push_back(std::move(r));
  for (auto& c : effects.commands) pending_commands_.push_back(c);
  effects.clear();
}

// ---------------------------------------------------------------------------------------------
// Group commit: records first, then commands
// ---------------------------------------------------------------------------------------------

void Controller::schedule_flush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  // Everything that arrives in this turn of the loop goes into one transaction (group commit).
  boost::asio::post(io_, [this] { flush(); });
}

void Controller::flush() {
  flush_posted_ = false;
  const bool waiting = std::any_of(waiters_.begin(), waiters_.end(), [](const Waiter& w) { return w.matched; });
  if (pending_records_.empty() && pending_entries_.empty() && pending_commands_.empty() && !waiting) return;
  std::vector<core::Record> records = std::move(pending_records_);
  std::vector<Entry> entries = std::move(pending_entries_);
  std::vector<core::DoorCommand> commands = std::move(pending_commands_);
  pending_records_.clear();
  pending_entries_.clear();
  pending_commands_.clear();

  bool durable = false;
  bool entries_durable = false;
  adapters::audit::Seq record_seq0 = 0;
  adapters::audit::Seq entry_seq0 = 0;
  if (!degraded_) {
    auto r = audit_.append(records, engine_.policy());
    if (r) {
      durable = true;
      // append() returns the seq of the last record; the batch is contiguous.
      record_seq0 = *r + 1 - records.size();
      auto e = audit_.append_entries(entries);
      if (e) {
        entries_durable = true;
        entry_seq0 = *e + 1 - entries.size();
      } else {
        // The records are safe, the entries are not: they wait in the backlog like records do
        // (retry_backlog() writes them after the queued records).
        Log::error("audit trail: cannot append entries: " + e.error().message);
        enter_degraded(e.error().message);
      }
    } else {
      enter_degraded(r.error().message);
    }
  }
  // Guards see every alarm at once, also while the audit trail is down and its records wait in
  // the backlog (retry_backlog() does not list them again). Alarms the controller raises itself
  // come through here too, so each is listed once.
  note_alarms(records);
  // Replies are built from the batch before the backlog takes it; handlers run at the very end.
  auto ready = resolve_waiters(records, record_seq0, entries.size(), entry_seq0, durable, entries_durable);
  if (!entries_durable) {
    for (auto& e : entries) backlog_entries_.push_back(std::move(e));
  }
  if (!durable) {
    for (auto& rec : records) {
      if (backlog_.size() >= options_.backlog_limit) {
        backlog_.pop_front();
        ++backlog_dropped_;
      }
      backlog_.push_back(std::move(rec));
    }
    records.clear();
  }
  if (durable && record_observer_) {
    for (const auto& rec : records) record_observer_(rec);
  }
  for (const auto& c : commands) execute(c, durable);
  update_buzzers();
  if (durable && entries_durable && audit_.should_checkpoint(clock_.now())) {
    auto cp = audit_.checkpoint(clock_.now());
    if (!cp) Log::error("audit trail: checkpoint failed: " + cp.error().message);
  }
  // Handlers run last, on a consistent controller: they may call back into it (status, say).
  for (auto& [done, report] : ready) {
    if (done) done(report);
  }
}

void Controller::execute(const core::DoorCommand& command, bool durable) {
  const config::DoorHardware* hw = door_hw(command.door);
  if (hw == nullptr || !hw->strike) return;
  bool active = command.kind == core::DoorCommand::Kind::unlock;
  // Fail secure: without a durable record, a DB-zone door does not open. Fire egress unlocks
  // (duration 0) are life safety and always run.
  if (active && !durable && engine_.fails_secure(command.door) && command.duration.count() != 0) {
    Log::warning("audit trail unavailable: not unlocking " + engine_.policy().doors[command.door].id);
    active = false;
  }
  if (auto err = lines_.set(hw->strike->name, active)) Log::error("strike " + hw->strike->name + ": " + *err);
}

void Controller::update_buzzers() {
  for (const auto& d : hardware_->doors) {
    if (!d.buzzer || d.index >= buzzer_on_.size()) continue;
    const core::DoorStatus& s = engine_.door_status(d.index);
    const bool on = s.forced || s.held_prealarm || s.held_alarm;
    if (on != buzzer_on_[d.index]) {
      buzzer_on_[d.index] = on;
      if (auto err = lines_.set(d.buzzer->name, on)) Log::error("buzzer " + d.buzzer->name + ": " + *err);
    }
  }
}

void Controller::enter_degraded(const std::string& why) {
  if (!degraded_) {
    degraded_ = true;
    degraded_since_ = clock_.now();
    degraded_reason_ = why;
    engine_.set_audit_available(false);
    Log::error("audit trail unavailable (" + why +
               "): DB-zone doors fail secure, records are queued in memory until it recovers");
    raise_adapter_alarm(core::AlarmKind::audit_failure, "audit", why);
  }
  retry_delay_ = retry_delay_.count() == 0 ? options_.retry_min : std::min(retry_delay_ * 2, options_.retry_max);
  retry_timer_.expires_after(retry_delay_);
  retry_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) retry_backlog();
  });
}

void Controller::retry_backlog() {
  std::vector<core::Record> records(std::make_move_iterator(backlog_.begin()), std::make_move_iterator(backlog_.end()));
  auto r = audit_.append(records, engine_.policy());
  if (!r) {
    // Put them back in order; try again later.
    backlog_.assign(std::make_move_iterator(records.begin()), std::make_move_iterator(records.end()));
    enter_degraded(r.error().message);
    return;
  }
  backlog_.clear();
  std::vector<Entry> entries(std::make_move_iterator(backlog_entries_.begin()),
                             std::make_move_iterator(backlog_entries_.end()));
  auto e = audit_.append_entries(entries);
  if (!e) {
    // The records are in; the entries stay queued for the next attempt.
    backlog_entries_.assign(std::make_move_iterator(entries.begin()), std::make_move_iterator(entries.end()));
    enter_degraded(e.error().message);
    return;
  }
  backlog_entries_.clear();
  const core::Instant now = clock_.now();
  const auto outage = std::chrono::duration_cast<core::Duration>(now - degraded_since_);
  // The outage itself goes on the record as soon as it can be written.
  std::vector<core::Record> alarm{core::Alarm{
      now,
      core::AlarmKind::audit_failure,
      core::Severity::critical,
      "audit",
      {},
      "audit trail was unavailable for " + ms_text(outage) + " (" + degraded_reason_ + "); " +
          std::to_string(records.size()) + " queued records written" +
          (backlog_dropped_ ? ", " + std::to_string(backlog_dropped_) + " dropped (queue full)" : std::string())}};
  (void)audit_.append(alarm, engine_.policy());
  note_alarms(alarm);
  degraded_ = false;
  retry_delay_ = core::Duration{0};
  backlog_dropped_ = 0;
  engine_.set_audit_available(true);
  Log::notice("audit trail recovered after " + ms_text(outage));
}

void Controller::append_entry(Entry entry) {
  pending_entries_.push_back(std::move(entry));
  schedule_flush();
}

// ---------------------------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------------------------

void Controller::arm_timer() {
  if (!started_) return;
  const auto due = engine_.next_deadline();
  if (!due) {
    engine_timer_.cancel();
    return;
  }
  const auto wait = std::max(core::Duration{0}, std::chrono::duration_cast<core::Duration>(*due - clock_.now()));
  engine_timer_.expires_after(wait);
  engine_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

// ---------------------------------------------------------------------------------------------
// Alarms
// ---------------------------------------------------------------------------------------------

void Controller::raise_adapter_alarm(core::AlarmKind kind, const std::string& source, const std::string& detail) {
  // Listed for the guards by the flush that writes (or queues) it, within this turn of the loop.
  pending_records_.push_back(core::Alarm{clock_.now(), kind, core::severity_of(kind), source, {}, detail});
  schedule_flush();
}

void Controller::note_alarms(const std::vector<core::Record>& records) {
  for (const auto& r : records) {
    const auto* a = std::get_if<core::Alarm>(&r);
    if (a == nullptr) continue;
    ActiveAlarm aa{next_alarm_id_++, *a, false, {}, {}, {}};
    Log::warning("alarm " + std::string(core::to_string(a->kind)) + " at " + a->source +
                 (a->person.empty() ? "" : " (" + a->person + ")") + (a->detail.empty() ? "" : ": " + a->detail));
    alarms_.push_back(aa);
    if (alarm_observer_) alarm_observer_(aa);
  }
  // Keep the list bounded: acknowledged alarms age out first.
  while (alarms_.size() > 1000) {
    auto it = std::find_if(alarms_.begin(), alarms_.end(), [](const ActiveAlarm& x) { return x.acknowledged; });
    alarms_.erase(it == alarms_.end() ? alarms_.begin() : it);
  }
}

// ---------------------------------------------------------------------------------------------
// Operators
// ---------------------------------------------------------------------------------------------

json Controller::guard(core::GuardCommand command, const Operator& op, CommitHandler done) {
  command.actor = op.id;
  command.actor_caps = op.caps;
  const std::size_t records_begin = pending_records_.size();
  const std::size_t entries_begin = pending_entries_.size();
  engine_.handle(command, clock_.now(), effects_);
  json decisions = json::array();
  json notes = json::array();
  for (const auto& r : effects_.records) {
    if (const auto* d = std::get_if<core::Decision>(&r)) {
      decisions.push_back(
          {{"person", d->person}, {"verdict", core::to_string(d->verdict)}, {"reason", core::to_string(d->reason)}});
    } else if (const auto* n = std::get_if<core::Note>(&r)) {
      notes.push_back({{"kind", n->kind}, {"subject", n->subject}, {"detail", n->detail}});
    }
  }
  collect(effects_);
  schedule_flush();
  arm_timer();
  if (done) await_pending(records_begin, entries_begin, std::move(done));
  return json{{"decisions", decisions}, {"notes", notes}};
}

std::optional<std::string> Controller::acknowledge(std::uint64_t alarm_id, const Operator& op, const std::string& note,
                                                   CommitHandler done) {
  auto it = std::find_if(alarms_.begin(), alarms_.end(), [&](const ActiveAlarm& a) { return a.id == alarm_id; });
  if (it == alarms_.end()) return "no alarm " + std::to_string(alarm_id);
  if (it->acknowledged) return "alarm " + std::to_string(alarm_id) + " was acknowledged by " + it->ack_by;
  it->acknowledged = true;
  it->ack_by = op.id;
  it->ack_note = note;
  it->ack_at = clock_.now();
  append_entry(Entry{it->ack_at,
                     EntryKind::operator_action,
                     "alarm_ack",
                     op.id,
                     {},
                     {},
                     {},
                     it->alarm.source,
                     std::string(core::to_string(it->alarm.kind)) + " #" + std::to_string(alarm_id) +
                         (note.empty() ? "" : ": " + note)});
  if (done) await_pending(pending_records_.size(), pending_entries_.size() - 1, std::move(done));
  return std::nullopt;
}

void Controller::record_operator_action(const Operator& op, const std::string& event, const std::string& detail,
                                        const std::string& person, const std::string& badge, EntryKind kind) {
  append_entry(Entry{clock_.now(),
                     kind,
                     event,
                     op.id,
                     badge,
                     {},
                     {},
                     {},
                     person.empty() ? detail : "person " + person + ": " + detail});
}

// ---------------------------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------------------------

std::optional<std::string> Controller::sim_tap(const std::string& person_or_uid, const std::string& door,
                                               core::Direction dir, std::optional<core::CredentialKind> kind,
                                               bool auth_failed, CommitHandler done) {
  const auto d = engine_.policy().door_index(door);
  if (!d) return "unknown door '" + door + "'";
  const std::string reader_id = config::sim_reader_id(door, dir);
  sim::SimReader* reader = nullptr;
  for (auto& r : readers_) {
    if (r->id() == reader_id) reader = dynamic_cast<sim::SimReader*>(r.get());
  }
  if (reader == nullptr) return "reader " + reader_id + " is not simulated (hardware.readers is nfc)";
  if (done && waiters_full()) return busy_text();
  // A person id taps their first badge (revoked ones included: the engine refuses those).
  std::string uid = person_or_uid;
  core::CredentialKind card = kind.value_or(core::CredentialKind::uid);
  adapters::credentials::ListOptions lo;
  lo.person = person_or_uid;
  lo.limit = 16;
  auto badges = credentials_.list(lo);
  if (badges && !badges->empty()) {
    auto good = std::find_if(badges->begin(), badges->end(), [](const auto& b) { return !b.badge.revoked; });
    const auto& chosen = good != badges->end() ? *good : badges->front();
    uid = chosen.badge.uid;
    if (!kind) card = chosen.badge.kind;
  } else if (auto info = credentials_.find(person_or_uid)) {
    uid = info->badge.uid;
    if (!kind) card = info->badge.kind;
  }
  if (!reader->online()) return "reader " + reader_id + " is offline";
  reader->tap(uid, card, auth_failed);
  if (done) {
    const auto id = await_event("card:" + reader_id + ":" + uid, std::move(done), std::nullopt);
    // The reader posted the read; this runs after it (one thread, handlers in order). A tap the
    // reader dropped (stopped or offline by then) has not matched and is reported as not read.
    boost::asio::post(io_, [this, id] { give_up_waiter(id); });
  }
  return std::nullopt;
}

std::optional<std::string> Controller::pulse(const std::string& line, CommitHandler done) {
  auto* sim = dynamic_cast<sim::SimLines*>(&lines_);
  if (sim == nullptr) return "lines are not simulated (hardware.gpio is gpiod)";
  if (done && waiters_full()) return busy_text();
  if (auto err = sim->inject(line, true)) return err;
  if (done) await_event("line:" + line, std::move(done), line_patience(line));
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, options_.gate_pulse);
  timer->async_wait([sim, line, timer](const boost::system::error_code& ec) {
    if (!ec) (void)sim->inject(line, false);
  });
  return std::nullopt;
}

std::optional<std::string> Controller::set_line(const std::string& line, bool active, CommitHandler done) {
  auto* sim = dynamic_cast<sim::SimLines*>(&lines_);
  if (sim == nullptr) return "lines are not simulated (hardware.gpio is gpiod)";
  if (done && waiters_full()) return busy_text();
  if (auto err = sim->inject(line, active)) return err;
  if (done) await_event("line:" + line, std::move(done), line_patience(line));
  return std::nullopt;
}

core::Duration Controller::line_patience(const std::string& line) const {
  // The event comes after the line's debounce; the margin covers a busy loop, not the commit
  // (a matched waiter waits for its batch however long the disk takes).
  std::chrono::milliseconds debounce{0};
  const auto consider = [&](const config::LineSpec& spec) {
    if (spec.name == line) debounce = std::max(debounce, std::chrono::milliseconds(spec.debounce));
  };
  for (const auto& d : hardware_->doors) {
    if (d.sensor) consider(*d.sensor);
    if (d.rex) consider(*d.rex);
  }
  for (const auto& g : hardware_->gates) {
    consider(g.clear);
    consider(g.alarm);
  }
  if (hardware_->fire) consider(*hardware_->fire);
  for (const auto& [id, spec] : hardware_->tamper) consider(spec);
  return std::chrono::duration_cast<core::Duration>(debounce + std::chrono::seconds(2));
}

std::string Controller::busy_text() {
  return "too many inputs awaiting their commit (" + std::to_string(kMaxWaiters) + "); try again";
}

std::optional<std::string> Controller::sim_gate(const std::string& gate, core::GateSignalKind signal,
                                                CommitHandler done) {
  const auto g = engine_.policy().gate_index(gate);
  if (!g) return "unknown gate '" + gate + "'";
  for (const auto& gh : hardware_->gates) {
    if (gh.index == *g) {
      return pulse(signal == core::GateSignalKind::clear ? gh.clear.name : gh.alarm.name, std::move(done));
    }
  }
  return "gate '" + gate + "' has no lines";
}

std::optional<std::string> Controller::sim_door(const std::string& door, bool open, CommitHandler done) {
  const auto d = engine_.policy().door_index(door);
  if (!d) return "unknown door '" + door + "'";
  if (dynamic_cast<sim::SimLines*>(&lines_) == nullptr) return "lines are not simulated (hardware.gpio is gpiod)";
  const auto* hw = door_hw(*d);
  if (hw == nullptr || !hw->sensor) return "door '" + door + "' has no sensor line";
  return set_line(hw->sensor->name, open, std::move(done));
}

std::optional<std::string> Controller::sim_rex(const std::string& door, CommitHandler done) {
  const auto d = engine_.policy().door_index(door);
  if (!d) return "unknown door '" + door + "'";
  const auto* hw = door_hw(*d);
  if (hw == nullptr || !hw->rex) return "door '" + door + "' has no request-to-exit button";
  return pulse(hw->rex->name, std::move(done));
}

std::optional<std::string> Controller::sim_fire(bool on, CommitHandler done) {
  if (dynamic_cast<sim::SimLines*>(&lines_) == nullptr) return "lines are not simulated (hardware.gpio is gpiod)";
  if (!hardware_->fire) return "the site has no fire input";
  return set_line(hardware_->fire->name, on, std::move(done));
}

std::optional<std::string> Controller::sim_tamper(const std::string& id, bool on, CommitHandler done) {
  if (dynamic_cast<sim::SimLines*>(&lines_) == nullptr) return "lines are not simulated (hardware.gpio is gpiod)";
  for (const auto& [tid, spec] : hardware_->tamper) {
    if (tid == id) return set_line(spec.name, on, std::move(done));
  }
  return "unknown tamper input '" + id + "'";
}

std::optional<std::string> Controller::sim_reader_online(const std::string& reader, bool online, CommitHandler done) {
  for (auto& r : readers_) {
    if (r->id() != reader) continue;
    auto* s = dynamic_cast<sim::SimReader*>(r.get());
    if (s == nullptr) return "reader " + reader + " is not simulated";
    if (done && waiters_full()) return busy_text();
    const bool change = s->online() != online;
    s->set_online(online, online ? "back" : "simulated fault");
    if (done) {
      if (change) {
        const auto id = await_event("reader:" + reader, std::move(done), std::nullopt);
        // The status report was posted by set_online(); this runs after it.
        boost::asio::post(io_, [this, id] { give_up_waiter(id); });
      } else {
        // Already in that state: nothing happens, nothing is recorded.
        boost::asio::post(io_, [done = std::move(done)] {
          CommitReport report;
          report.observed = false;
          done(report);
        });
      }
    }
    return std::nullopt;
  }
  return "unknown reader '" + reader + "'";
}

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

json Controller::status() const {
  const core::Policy& p = engine_.policy();
  const core::Instant now = clock_.now();
  json doors = json::array();
  for (std::size_t i = 0; i < p.doors.size(); ++i) {
    const auto& s = engine_.door_status(static_cast<core::DoorIdx>(i));
    doors.push_back({{"id", p.doors[i].id},
                     {"unlocked", s.unlocked},
                     {"open", s.open},
                     {"forced", s.forced},
                     {"held_prealarm", s.held_prealarm},
                     {"held_alarm", s.held_alarm},
                     {"fire_release", s.fire_release}});
  }
  json zones = json::array();
  const auto locked = engine_.lockdowns();
  for (std::size_t i = 0; i < p.zones.size(); ++i) {
    const auto z = static_cast<core::ZoneIdx>(i);
    auto people = engine_.people_in(z);
    // "people" stays a list of ids for existing readers; "since" maps each id whose arrival time
    // is known to it.
    json since = json::object();
    for (const auto& id : people) {
      if (const auto t = engine_.location_since(id)) since[id] = core::format_utc(*t);
    }
    zones.push_back({{"id", p.zones[i].id},
                     {"occupancy", engine_.occupancy(z)},
                     {"max", p.zones[i].max_occupancy},
                     {"lockdown", std::find(locked.begin(), locked.end(), z) != locked.end()},
                     {"people", std::move(people)},
                     {"since", std::move(since)}});
  }
  json alarms = json::array();
  for (const auto& a : alarms_) {
    alarms.push_back({{"id", a.id},
                      {"kind", core::to_string(a.alarm.kind)},
                      {"severity", core::to_string(a.alarm.severity)},
                      {"source", a.alarm.source},
                      {"person", a.alarm.person},
                      {"detail", a.alarm.detail},
                      {"at", core::format_utc(a.alarm.at)},
                      {"acknowledged", a.acknowledged},
                      {"ack_by", a.ack_by},
                      {"ack_note", a.ack_note}});
  }
  json pending = json::array();
  for (const auto& pv : engine_.pending()) {
    pending.push_back({{"door", p.doors[pv.door].id},
                       {"dir", core::to_string(pv.dir)},
                       {"waiting_for", core::to_string(pv.waiting_for)},
                       {"people", pv.people},
                       {"deadline", core::format_utc(pv.deadline)}});
  }
  json held = json::array();
  for (const auto& h : engine_.held()) {
    held.push_back({{"person", h.person}, {"door", p.doors[h.door].id}, {"since", core::format_utc(h.since)}});
  }
  // With simulated GPIO, show what the outputs are actually driven to (strike released or not).
  json outputs = json::object();
  if (const auto* sim = dynamic_cast<const sim::SimLines*>(&lines_)) {
    for (const auto& name : hardware_->all_output_names()) {
      if (auto level = sim->level(name)) outputs[name] = *level;
    }
  }
  json readers = json::array();
  for (const auto& [id, b] : reader_bindings_) {
    const bool present = std::any_of(readers_.begin(), readers_.end(), [&](const auto& r) { return r->id() == id; });
    if (present) readers.push_back({{"id", id}, {"online", b.online}});
  }
  json out{{"site", p.site_name},
           {"gateway", settings_->gateway_id},
           {"policy_sha256", p.source_hash},
           {"now", core::format_utc(now)},
           {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(now - started_at_).count()},
           {"fire", engine_.fire_active()},
           {"doors", doors},
           {"zones", zones},
           {"unknown_locations", engine_.unknown_locations()},
           {"pending", pending},
           {"held", held},
           {"alarms", alarms},
           {"readers", readers},
           {"outputs", outputs},
           {"audit",
            {{"last_seq", audit_.last_seq()},
             {"degraded", degraded_},
             {"reason", degraded_ ? degraded_reason_ : std::string()},
             {"backlog", backlog_.size() + backlog_entries_.size() + pending_records_.size()},
             {"awaiting_commit", waiters_.size()}}}};
  for (const auto& [name, fn] : status_sections_) out[name] = fn();
  return out;
}

void Controller::add_status_section(std::string name, std::function<json()> fn) {
  static const char* const kBuiltIn[] = {
      "site",    "gateway", "policy_sha256", "now",     "uptime_s", "fire", "doors", "zones", "unknown_locations",
      "pending", "held",    "alarms",        "readers", "outputs",  "audit"};
  if (name.empty() || std::find(std::begin(kBuiltIn), std::end(kBuiltIn), name) != std::end(kBuiltIn)) {
    Log::error("status section '" + name + "' refused: the name is empty or built in");
    return;
  }
  auto it = std::find_if(status_sections_.begin(), status_sections_.end(),
                         [&](const auto& section) { return section.first == name; });
  if (it != status_sections_.end()) {
    it->second = std::move(fn);
  } else {
    status_sections_.emplace_back(std::move(name), std::move(fn));
  }
}

}  // namespace zonegate::app
