// SPDX-License-Identifier: Apache-2.0
/// @file
/// The controller wires the decision engine to the world on one Asio event loop: badge readers and
/// GPIO lines in; the audit trail, strikes and buzzers out. Every batch of records is committed to
/// the audit trail before its door commands run, so a grant is durable before the strike fires.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "config/loader.hpp"
#include "core/engine.hpp"
#include "ports/badge_reader.hpp"
#include "ports/clock.hpp"
#include "ports/gpio.hpp"

namespace zonegate::app {

/// An alarm as the guards see it: raised, maybe acknowledged.
struct ActiveAlarm {
  std::uint64_t id = 0;
  core::Alarm alarm;
  bool acknowledged = false;
  std::string ack_by;
  std::string ack_note;
  core::Instant ack_at{};
};

/// Who asks for an operator action, and what they may do.
struct Operator {
  std::string id;  ///< e.g. "unix:root" or "console:alice"
  core::CapabilityMask caps = 0;
};

struct ControllerOptions {
  std::size_t backlog_limit = 200000;  ///< records held in memory while the audit trail fails
  core::Duration retry_min{std::chrono::seconds(1)};
  core::Duration retry_max{std::chrono::seconds(30)};
  core::Duration gate_pulse{std::chrono::milliseconds(100)};  ///< sim: how long a simulated pulse lasts
};

/// What the audit trail made of one input (a simulated tap, a line change, a guard action): the
/// records it caused, and whether they are durable. Handed to the input's CommitHandler once the
/// batch holding those records has been committed (fsync'd) or queued in the backlog.
struct CommitReport {
  /// The input reached the engine (false: no edge on the line, or the reader dropped the tap).
  bool observed = true;
  /// Every record and entry the input caused is fsync'd in the audit trail (trivially true if none).
  bool durable = true;
  /// When not durable: why (the audit trail is degraded; the records wait in the backlog).
  std::string queued_reason;
  /// Engine records the input caused, in order; `seqs[i]` is the seq of `records[i]` (0 if queued).
  std::vector<core::Record> records;
  std::vector<adapters::audit::Seq> seqs;
  /// Seqs of the adapter entries the input caused (reader state, alarm acknowledgement); empty if queued.
  std::vector<adapters::audit::Seq> entry_seqs;
  std::size_t entries = 0;  ///< how many entries it caused (durable or queued)
};
using CommitHandler = std::function<void(const CommitReport&)>;

class Controller {
 public:
  /// Inputs awaiting their commit at any time; more are refused (see sim_tap()).
  static constexpr std::size_t kMaxWaiters = 256;

  Controller(boost::asio::io_context& io, ports::Clock& clock, adapters::audit::AuditStore& audit,
             adapters::credentials::CredentialStore& credentials, ports::GpioLines& lines,
             std::vector<std::unique_ptr<ports::BadgeReader>> readers, const config::LoadResult& config,
             ControllerOptions options = {});
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  /// Requests every line and starts every reader. Returns an error (naming the line) on failure.
  std::optional<std::string> start();
  void stop();

  /// Applies a new configuration (SIGHUP). An invalid one is rejected (errors logged and audited)
  /// and the running policy stays. Returns true if the new policy is in force.
  bool reload(const config::LoadResult& result, const std::string& path);

  // ---- inputs --------------------------------------------------------------------------------
  void on_card(const ports::CardRead& read);
  void on_reader_status(const ports::ReaderStatus& status);
  /// Applies an engine event now (lines and the control socket feed this).
  void submit(const core::Event& event);
  /// Fires due engine timers; also called by the controller's own timer.
  void tick();
  /// Housekeeping once a second: time-based audit checkpoints.
  void periodic();

  // ---- operators -----------------------------------------------------------------------------
  /// Runs a guard action for an operator; the engine checks the capability and records it.
  /// Returns the decisions and notes at once; `done` (optional) runs when they are committed.
  nlohmann::json guard(core::GuardCommand command, const Operator& op, CommitHandler done = {});
  /// Acknowledges an alarm with a note; audited. Returns an error text if there is no such alarm;
  /// otherwise `done` (optional) runs once the acknowledgement is committed.
  std::optional<std::string> acknowledge(std::uint64_t alarm_id, const Operator& op, const std::string& note,
                                         CommitHandler done = {});
  /// Appends an operator action to the audit trail (badge enrolment, exports, logins); an
  /// auditor's export is recorded with kind `export_`.
  void record_operator_action(const Operator& op, const std::string& event, const std::string& detail,
                              const std::string& person = {}, const std::string& badge = {},
                              adapters::audit::EntryKind kind = adapters::audit::EntryKind::operator_action);

  // ---- simulation (only with simulated readers / lines) ----------------------------------------
  // Each returns an error text if the input cannot be made (nothing happens then). Otherwise the
  // input is made and `done` (optional) runs on the loop exactly once: after the batch holding the
  // records the input caused is committed, or at once with durable=false if the audit trail is
  // degraded and they were queued, or with observed=false if the input caused no event (a line
  // set to the level it has, a tap the reader dropped). At most kMaxWaiters inputs wait at a time.

  /// Taps a badge (UID) or a person's first valid badge on a simulated reader of a door.
  std::optional<std::string> sim_tap(const std::string& person_or_uid, const std::string& door, core::Direction dir,
                                     std::optional<core::CredentialKind> kind, bool auth_failed,
                                     CommitHandler done = {});
  std::optional<std::string> sim_gate(const std::string& gate, core::GateSignalKind signal, CommitHandler done = {});
  std::optional<std::string> sim_door(const std::string& door, bool open, CommitHandler done = {});
  std::optional<std::string> sim_rex(const std::string& door, CommitHandler done = {});
  std::optional<std::string> sim_fire(bool on, CommitHandler done = {});
  std::optional<std::string> sim_tamper(const std::string& id, bool on, CommitHandler done = {});
  std::optional<std::string> sim_reader_online(const std::string& reader, bool online, CommitHandler done = {});

  // ---- status --------------------------------------------------------------------------------
  [[nodiscard]] nlohmann::json status() const;
  /// Adds (or replaces) a section of status(): `fn()` is called on the loop for each status request
  /// and its value appears under `name` (e.g. "upstream"). Names of built-in sections are refused.
  void add_status_section(std::string name, std::function<nlohmann::json()> fn);
  /// Inputs whose commit is awaited (for tests and status).
  [[nodiscard]] std::size_t waiters() const { return waiters_.size(); }
  [[nodiscard]] const core::Engine& engine() const { return engine_; }
  [[nodiscard]] const std::vector<ActiveAlarm>& alarms() const { return alarms_; }
  [[nodiscard]] bool audit_degraded() const { return degraded_; }
  [[nodiscard]] std::size_t backlog_size() const { return backlog_.size(); }
  /// Called for each alarm raised (the console pushes them); runs on the loop.
  void set_alarm_observer(std::function<void(const ActiveAlarm&)> observer) { alarm_observer_ = std::move(observer); }
  /// Called after each committed batch with its records (the console's live view).
  void set_record_observer(std::function<void(const core::Record&)> observer) {
    record_observer_ = std::move(observer);
  }

 private:
  struct ReaderBinding {
    core::DoorIdx door = core::kNoIdx;
    core::Direction dir = core::Direction::in;
    bool online = false;
  };

  /// An input awaiting its commit. `key` names the event it waits for ("card:READER:UID",
  /// "line:NAME", "reader:ID"); once that event has been handled, `matched` is set and the ranges
  /// point into pending_records_ / pending_entries_ until the next flush resolves it.
  struct Waiter {
    std::uint64_t id = 0;
    std::string key;
    bool matched = false;
    std::size_t records_begin = 0, records_end = 0;
    std::size_t entries_begin = 0, entries_end = 0;
    CommitHandler done;
    std::unique_ptr<boost::asio::steady_timer> deadline;  ///< for events that may never come
  };

  void bind_lines();
  void handle_engine(const core::Event& event);
  /// Handles an input event and hands its records to the first waiter for `key`, if any.
  void handle_input(const std::string& key, const core::Event& event);
  [[nodiscard]] bool waiters_full() const { return waiters_.size() >= kMaxWaiters; }
  /// Registers a waiter for the next event under `key`; it gives up (observed=false) after `patience`.
  std::uint64_t await_event(std::string key, CommitHandler done, std::optional<core::Duration> patience);
  /// Registers a waiter for records and entries already in pending_* from the given sizes on.
  void await_pending(std::size_t records_begin, std::size_t entries_begin, CommitHandler done);
  void match_waiter(const std::string& key, std::size_t records_begin, std::size_t entries_begin);
  void give_up_waiter(std::uint64_t id);
  /// Takes the matched waiters of the batch just flushed and builds their reports; the caller runs
  /// the handlers. `record_seq0`: seq of records[0] if durable; `entry_seq0` likewise for entries.
  std::vector<std::pair<CommitHandler, CommitReport>> resolve_waiters(const std::vector<core::Record>& records,
                                                                      adapters::audit::Seq record_seq0,
                                                                      std::size_t entry_count,
                                                                      adapters::audit::Seq entry_seq0,
                                                                      bool records_durable, bool entries_durable);
  void collect(core::Effects& effects);
  void schedule_flush();
  void flush();
  void execute(const core::DoorCommand& command, bool durable);
  void enter_degraded(const std::string& why);
  void retry_backlog();
  void arm_timer();
  void raise_adapter_alarm(core::AlarmKind kind, const std::string& source, const std::string& detail);
  [[nodiscard]] core::Duration line_patience(const std::string& line) const;
  void note_alarms(const std::vector<core::Record>& records);
  void update_buzzers();
  std::optional<std::string> pulse(const std::string& line, CommitHandler done);
  std::optional<std::string> set_line(const std::string& line, bool active, CommitHandler done);
  static std::string busy_text();
  void append_entry(adapters::audit::Entry entry);
  [[nodiscard]] const config::DoorHardware* door_hw(core::DoorIdx door) const;

  boost::asio::io_context& io_;
  ports::Clock& clock_;
  adapters::audit::AuditStore& audit_;
  adapters::credentials::CredentialStore& credentials_;
  ports::GpioLines& lines_;
  std::vector<std::unique_ptr<ports::BadgeReader>> readers_;
  std::map<std::string, ReaderBinding> reader_bindings_;
  std::shared_ptr<const config::HardwareConfig> hardware_;
  std::shared_ptr<const config::DaemonSettings> settings_;
  ControllerOptions options_;
  core::Engine engine_;
  core::Effects effects_;  ///< reused between events

  std::vector<core::Record> pending_records_;
  std::vector<core::DoorCommand> pending_commands_;
  std::vector<adapters::audit::Entry> pending_entries_;
  bool flush_posted_ = false;

  bool degraded_ = false;
  core::Instant degraded_since_{};
  std::string degraded_reason_;
  std::deque<core::Record> backlog_;
  std::deque<adapters::audit::Entry> backlog_entries_;
  std::uint64_t backlog_dropped_ = 0;
  core::Duration retry_delay_{0};
  boost::asio::steady_timer retry_timer_;

  boost::asio::steady_timer engine_timer_;
  std::vector<ActiveAlarm> alarms_;
  std::uint64_t next_alarm_id_ = 1;
  std::function<void(const ActiveAlarm&)> alarm_observer_;
  std::function<void(const core::Record&)> record_observer_;
  std::deque<Waiter> waiters_;
  std::uint64_t next_waiter_id_ = 1;
  std::vector<std::pair<std::string, std::function<nlohmann::json()>>> status_sections_;
  std::vector<bool> buzzer_on_;
  bool started_ = false;
  core::Instant started_at_{};
  std::string config_path_;
};

}  // namespace zonegate::app
