// SPDX-License-Identifier: Apache-2.0
/// @file
/// The gateway's sync client for the central PostgreSQL database (schema in docs/upstream.md):
/// uploads the local audit trail in order and exactly once (the centre's chain head says where to
/// resume; its insert trigger makes a retried row a no-op), uploads the signed checkpoints, and
/// pulls badge and person changes of this gateway's site into the local credential store.
///
/// libpq runs non-blocking on the daemon's Asio loop: its socket is waited on with a
/// posix::stream_descriptor, never read or written by the loop itself. Time (backoff, timeouts,
/// lag) comes from ports::Clock, so tests drive outages with a manual clock. It never sends a door
/// command anywhere: it only moves audit records up and badges down.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "ports/clock.hpp"

namespace zonegate::adapters::upstream {

/// Where the sync stands.
enum class SyncState : std::uint8_t {
  disabled,    ///< not started, or stopped
  connecting,  ///< connecting and reading the centre's chain head
  idle,        ///< connected and caught up
  uploading,   ///< sending audit records or checkpoints
  pulling,     ///< fetching badge changes
  backoff,     ///< waiting to reconnect after a failure
  faulted,     ///< the centre's chain disagrees with the local one: uploads stopped (pulls go on)
};
std::string_view to_string(SyncState s);

/// Log levels the sync reports with (same meaning as syslog's).
enum class SyncLogLevel : std::uint8_t { debug, info, notice, warning, error };

/// Test seam: inject faults into the link.
struct SyncFaults {
  /// Non-zero: drop the connection (as if the network failed) once this many bytes of COPY data
  /// have been handed to libpq, counted from the moment the fault is armed. One-shot.
  std::uint64_t drop_after_copy_bytes = 0;
};

struct SyncOptions {
  std::string gateway_id;  ///< chain_heads / events key, and application_name=zonegated/<id>
  std::string dsn;         ///< must pass check_dsn()
  std::string passfile;    ///< empty: libpq's default
  std::string sslmode = "verify-full";
  std::string sslrootcert;
  std::string sslcert;
  std::string sslkey;
  std::uint32_t batch = 5000;                      ///< records per upload transaction
  std::chrono::milliseconds pull_interval{30000};  ///< badge pull period
  std::chrono::milliseconds backoff_min{1000};     ///< first retry delay; doubles per failure …
  std::chrono::milliseconds backoff_max{300000};   ///< … up to this
  std::chrono::milliseconds timeout{10000};        ///< connect and per-statement timeout
  std::uint32_t pull_max_rows = 10000;             ///< rows per pull_changes() call
  /// Real-time period of the housekeeping timer that compares the Clock with the deadlines and
  /// looks for new local records. Tests on a manual clock use a few milliseconds.
  std::chrono::milliseconds tick{200};
  /// The audit database to read (AuditStore::database_path()); opened read-only.
  std::filesystem::path audit_db;
  /// Receives state changes and errors; never passed secrets (DSNs are redacted).
  std::function<void(SyncLogLevel, std::string_view)> log;
};

/// A snapshot of the sync, for status output and tests.
struct SyncStatus {
  SyncState state = SyncState::disabled;
  std::string dsn;  ///< redact_dsn()
  std::uint64_t local_seq = 0;
  std::uint64_t central_seq = 0;
  std::uint64_t lag_records = 0;
  double lag_seconds = 0;  ///< now − time of the oldest record the centre lacks; 0 when caught up
  std::string last_error;
  std::int64_t last_pull_version = 0;
  std::optional<core::Instant> last_upload_at;
  std::uint64_t central_checkpoint_seq = 0;
  std::chrono::milliseconds backoff{0};          ///< the delay of the current (or next) retry
  std::optional<core::Instant> next_attempt_at;  ///< in state backoff
  std::uint64_t connects = 0;                    ///< connection attempts so far
  std::uint64_t failures = 0;                    ///< failures that led to a backoff
  std::uint64_t records_uploaded = 0;            ///< records the centre accepted from this process
  std::uint64_t batches_uploaded = 0;
  std::uint64_t checkpoints_uploaded = 0;
  std::uint64_t pulls_applied = 0;  ///< non-empty change batches applied
};

class UpstreamSync {
 public:
  /// `audit` supplies the checkpoints (AuditStore::checkpoints) and, when options.audit_db is
  /// empty, the database path; `credentials` receives the pulled changes. Both are used on the
  /// loop thread only, like everything else here.
  UpstreamSync(boost::asio::io_context& io, ports::Clock& clock, audit::AuditStore& audit,
               credentials::CredentialStore& credentials, SyncOptions options);
  ~UpstreamSync();
  UpstreamSync(const UpstreamSync&) = delete;
  UpstreamSync& operator=(const UpstreamSync&) = delete;

  /// Starts connecting. Returns an error if the options are unusable (bad DSN, audit database not
  /// readable); the sync is then not running.
  std::optional<std::string> start();
  /// Drops the connection (an unfinished batch is rolled back by the server and sent again
  /// later) and stops every timer. Idempotent.
  void stop();

  /// Makes the next pull happen at the next tick instead of at the end of the pull interval.
  void pull_now();
  /// Arms a fault (test seam).
  void inject(const SyncFaults& faults);

  [[nodiscard]] SyncStatus status() const;
  /// {state, dsn, local_seq, central_seq, lag_records, lag_seconds, last_error, last_pull_version,
  ///  last_upload_at (ISO 8601 UTC or null), backoff_ms, …}
  [[nodiscard]] nlohmann::json status_json() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace zonegate::adapters::upstream
