// SPDX-License-Identifier: Apache-2.0
#include "adapters/upstream/sync.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/upstream/dsn.hpp"
#include "adapters/upstream/libpq_lazy.hpp"

namespace zonegate::adapters::upstream {

std::string_view to_string(SyncState s) {
  switch (s) {
    case SyncState::disabled:
      return "disabled";
    case SyncState::connecting:
      return "connecting";
    case SyncState::idle:
      return "idle";
    case SyncState::uploading:
      return "uploading";
    case SyncState::pulling:
      return "pulling";
    case SyncState::backoff:
      return "backoff";
    case SyncState::faulted:
      return "faulted";
  }
  return "unknown";
}

namespace {

using audit::Hash;
using Ms = std::chrono::milliseconds;

constexpr const char* kEventColumns =
    "gateway_id, seq, time_ms, kind, event, person, badge, door, zone, direction, verdict, reason, alarm, "
    "severity, source, ref, detail, salt, personal_digest, purged_by, prev_hash, hash";
// Same order as kEventColumns, less gateway_id (written by the encoder).
constexpr const char* kLocalSelect =
    "SELECT seq, time_ms, kind, event, person, badge, door, zone, direction, verdict, reason, alarm, severity, "
    "source, ref, detail, salt, personal_digest, purged_by, prev_hash, hash FROM records WHERE seq > ?1 "
    "ORDER BY seq LIMIT ?2";
constexpr int kLocalColumns = 21;
/// Columns (of kLocalSelect) that are bytea upstream.
constexpr bool is_bytea_column(int c) { return c == 16 || c == 17 || c == 19 || c == 20; }

// COPY data is handed to libpq in pieces of this size, flushing between them, so libpq's output
// buffer stays bounded and one loop slice never copies more than this.
constexpr std::size_t kCopyPiece = 64 * 1024;
// Checkpoints per INSERT statement.
constexpr std::size_t kCheckpointsPerInsert = 100;
// A pull whose batch refers to a person outside the page is retried with a larger page, up to this.
constexpr std::uint32_t kPullMaxRowsCap = 100000;  // pull_changes' own limit

std::int64_t ms_of(core::Instant t) { return t.time_since_epoch().count(); }
core::Instant instant_of(std::int64_t ms) { return core::Instant{core::Duration{ms}}; }

std::string hex_of(const std::uint8_t* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4U];
    out += kDigits[p[i] & 15U];
  }
  return out;
}

/// bytea input text, e.g. "\x00ff".
std::string bytea_literal(std::span<const std::uint8_t> b) { return "\\x" + hex_of(b.data(), b.size()); }

int hex_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Parses bytea output text in hex format ("\x…") into a hash; false if it is not 32 bytes.
bool parse_hash(std::string_view text, Hash& out) {
  if (text.size() != 2 + 64 || text[0] != '\\' || text[1] != 'x') return false;
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = hex_nibble(text[2 + 2 * i]);
    const int lo = hex_nibble(text[3 + 2 * i]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

template <typename T>
bool parse_int(std::string_view text, T& out) {
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

/// A text[] value in PostgreSQL's output syntax: {a,"b c",NULL}. NULL elements are dropped.
bool parse_text_array(std::string_view s, std::vector<std::string>& out) {
  out.clear();
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return false;
  std::size_t i = 1;
  const std::size_t end = s.size() - 1;
  if (i == end) return true;
  while (i <= end) {
    std::string item;
    bool quoted = false;
    if (i < end && s[i] == '"') {
      quoted = true;
      ++i;
      while (i < end && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < end) ++i;
        item += s[i++];
      }
      if (i >= end) return false;
      ++i;  // closing quote
    } else {
      while (i < end && s[i] != ',') item += s[i++];
    }
    if (quoted || item != "NULL") out.push_back(std::move(item));
    if (i == end) break;
    if (s[i] != ',') return false;
    ++i;
  }
  return true;
}

/// Appends a value in COPY text format: backslash, newline, carriage return and tab escaped.
void append_copy_text(std::string& out, const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const char c = p[i];
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
}

std::string iso8601(core::Instant t) {
  const std::int64_t ms = ms_of(t);
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(((ms % 1000) + 1000) % 1000));
  return buf;
}

std::string seconds_text(Ms d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

/// libpq's messages on one line (they carry newlines and tabs), without trailing blanks.
std::string trimmed(std::string_view text) {
  std::string s;
  s.reserve(text.size());
  for (char c : text) {
    const bool blank = c == '\n' || c == '\t' || c == '\r' || c == ' ';
    if (blank) {
      if (!s.empty() && s.back() != ' ') s += ' ';
    } else {
      s += c;
    }
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqliteDb = std::unique_ptr<sqlite3, SqliteCloser>;
struct StmtCloser {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using SqliteStmt = std::unique_ptr<sqlite3_stmt, StmtCloser>;

SqliteDb open_read_only(const std::filesystem::path& path, std::string& error) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
  SqliteDb db(raw);
  if (rc != SQLITE_OK) {
    error = "cannot open the audit database " + path.string() + ": " +
            (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    return nullptr;
  }
  // WAL readers do not wait for the writer; a short busy timeout covers a checkpoint's brief lock.
  sqlite3_busy_timeout(raw, 200);
  return db;
}

/// A batch of local records, encoded as COPY text rows.
struct Chunk {
  std::uint64_t after = 0;  ///< the request: records with seq > after
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t count = 0;
  std::int64_t min_time_ms = 0;
  std::int64_t max_time_ms = 0;
  std::string data;
  std::string error;
};

/// Reads and encodes records on a thread of its own, one request at a time.
///
/// Why a thread and not slices on the loop: a batch of 5000 records is a few milliseconds of
/// SQLite reads and text encoding, and a cold page can mean a disk read of unknown length. Done on
/// the loop that would delay badge decisions; sliced into ~1 ms pieces it would hold an SQLite
/// read transaction open across loop turns and still block on disk. On its own thread, with its
/// own read-only connection (WAL lets it read while the daemon writes), it costs the loop nothing
/// but a memcpy of the finished buffer, and it encodes the next batch while the current one is on
/// the wire. The queue is one request deep, so at most two batches exist at a time.
class LocalReader {
 public:
  using Deliver = std::function<void(Chunk)>;

  LocalReader(SqliteDb db, std::string gateway_id, Deliver deliver)
      : db_(std::move(db)), gateway_id_(std::move(gateway_id)), deliver_(std::move(deliver)) {
    thread_ = std::thread([this] { run(); });
  }
  ~LocalReader() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  LocalReader(const LocalReader&) = delete;
  LocalReader& operator=(const LocalReader&) = delete;

  /// Replaces any request not yet started.
  void request(std::uint64_t after, std::uint32_t limit) {
    {
      std::lock_guard lock(mutex_);
      pending_ = std::make_pair(after, limit);
    }
    cv_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      std::pair<std::uint64_t, std::uint32_t> req;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || pending_.has_value(); });
        if (stopping_) return;
        req = *pending_;
        pending_.reset();
      }
      deliver_(read(req.first, req.second));
    }
  }

  Chunk read(std::uint64_t after, std::uint32_t limit) {
    Chunk c;
    c.after = after;
    if (!stmt_) {
      sqlite3_stmt* raw = nullptr;
      const int rc = sqlite3_prepare_v3(db_.get(), kLocalSelect, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
      stmt_.reset(raw);
      if (rc != SQLITE_OK) {
        c.error = std::string("reading the audit trail: ") + sqlite3_errmsg(db_.get());
        return c;
      }
    }
    sqlite3_stmt* st = stmt_.get();
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(after));
    sqlite3_bind_int64(st, 2, limit);
    c.data.reserve(static_cast<std::size_t>(limit) * 400);
    int rc = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
      const std::int64_t time_ms = sqlite3_column_int64(st, 1);
      if (c.count == 0) {
        c.first_seq = seq;
        c.min_time_ms = c.max_time_ms = time_ms;
      }
      c.last_seq = seq;
      c.min_time_ms = std::min(c.min_time_ms, time_ms);
      c.max_time_ms = std::max(c.max_time_ms, time_ms);
      ++c.count;
      append_copy_text(c.data, gateway_id_.data(), gateway_id_.size());
      for (int col = 0; col < kLocalColumns; ++col) {
        c.data += '\t';
        const int type = sqlite3_column_type(st, col);
        if (type == SQLITE_NULL) {
          c.data += "\\N";
        } else if (is_bytea_column(col)) {
          const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(st, col));
          const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, col));
          c.data += "\\\\x";  // bytea hex input "\x…", its backslash escaped for COPY
          c.data += hex_of(p, n);
        } else if (type == SQLITE_INTEGER) {
          c.data += std::to_string(sqlite3_column_int64(st, col));
        } else {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
          append_copy_text(c.data, p, static_cast<std::size_t>(sqlite3_column_bytes(st, col)));
        }
      }
      c.data += '\n';
    }
    if (rc != SQLITE_DONE) c.error = std::string("reading the audit trail: ") + sqlite3_errmsg(db_.get());
    // Ends the read transaction, so the daemon's WAL checkpoints are not held back.
    sqlite3_reset(st);
    return c;
  }

  SqliteDb db_;
  SqliteStmt stmt_;
  std::string gateway_id_;
  Deliver deliver_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<std::pair<std::uint64_t, std::uint32_t>> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

}  // namespace

// ------------------------------------------------------------------------------------------------

class UpstreamSync::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(boost::asio::io_context& io, ports::Clock& clock, audit::AuditStore& audit,
       credentials::CredentialStore& credentials, SyncOptions options)
      : io_(io),
        clock_(clock),
        audit_(audit),
        credentials_(credentials),
        options_(std::move(options)),
        socket_(io),
        tick_timer_(io) {
    if (options_.audit_db.empty()) options_.audit_db = audit_.database_path();
    redacted_dsn_ = redact_dsn(options_.dsn);
    backoff_ = options_.backoff_min;
  }

  ~Impl() { drop_connection(); }

  std::optional<std::string> start() {
    auto error = do_start();
    // Shown in the status: a sync that cannot start says why.
    if (error) last_error_ = *error;
    return error;
  }

  std::optional<std::string> do_start() {
    if (running_) return std::nullopt;
    if (auto e = check_dsn(options_.dsn)) return "daemon.upstream.dsn: " + *e;
    if (options_.batch == 0) return std::string("daemon.upstream.batch must be at least 1");
    std::string error;
    local_db_ = open_read_only(options_.audit_db, error);
    if (!local_db_) return error;
    SqliteDb reader_db = open_read_only(options_.audit_db, error);
    if (!reader_db) return error;
    std::weak_ptr<Impl> weak = weak_from_this();
    boost::asio::io_context& io = io_;
    reader_ = std::make_unique<LocalReader>(std::move(reader_db), options_.gateway_id, [weak, &io](Chunk c) {
      boost::asio::post(io, [weak, c = std::move(c)]() mutable {
        if (auto self = weak.lock()) self->on_chunk(std::move(c));
      });
    });
    running_ = true;
    refresh_local();
    log(SyncLogLevel::notice, "upstream: syncing gateway " + options_.gateway_id + " with " + redacted_dsn_);
    connect();
    arm_tick();
    return std::nullopt;
  }

  void stop() {
    if (!running_) return;
    running_ = false;
    drop_connection();
    tick_timer_.cancel();
    reader_.reset();  // joins the reader thread; a chunk it posted is ignored (weak_ptr, running_)
    set_state(SyncState::disabled);
    log(SyncLogLevel::notice, "upstream: stopped");
  }

  void pull_now() { next_pull_at_ = clock_.now(); }
  void inject(const SyncFaults& f) {
    faults_ = f;
    copy_bytes_since_fault_ = 0;
  }

  SyncStatus status() const {
    SyncStatus s;
    s.state = faulted_ && running_ ? SyncState::faulted : state_;
    s.dsn = redacted_dsn_;
    s.local_seq = local_seq_;
    s.central_seq = central_seq_;
    s.lag_records = local_seq_ > central_seq_ ? local_seq_ - central_seq_ : 0;
    if (s.lag_records > 0 && oldest_unsent_ms_) {
      const std::int64_t lag = ms_of(clock_.now()) - *oldest_unsent_ms_;
      s.lag_seconds = lag > 0 ? static_cast<double>(lag) / 1000.0 : 0.0;
    }
    // A chain fault stays the headline until restart; a later link error is added to it.
    s.last_error = faulted_ ? fault_reason_ + (last_error_.empty() ? "" : "; last error: " + last_error_) : last_error_;
    s.last_pull_version = credentials_.version();
    s.last_upload_at = last_upload_at_;
    s.central_checkpoint_seq = central_checkpoint_seq_;
    s.backoff = backoff_;
    if (state_ == SyncState::backoff) s.next_attempt_at = next_attempt_at_;
    s.connects = connects_;
    s.failures = failures_;
    s.records_uploaded = records_uploaded_;
    s.batches_uploaded = batches_uploaded_;
    s.checkpoints_uploaded = checkpoints_uploaded_;
    s.pulls_applied = pulls_applied_;
    return s;
  }

 private:
  // ---- small helpers ---------------------------------------------------------------------------

  void log(SyncLogLevel level, std::string_view message) const {
    if (options_.log) options_.log(level, message);
  }

  void set_state(SyncState s) {
    if (s == state_) return;
    const SyncState old = state_;
    state_ = s;
    // Upload/pull/idle alternate with every batch; only the transitions an operator cares
    // about (connected or not, faults) are logged above debug.
    const bool routine = (s == SyncState::idle || s == SyncState::uploading || s == SyncState::pulling) &&
                         (old == SyncState::idle || old == SyncState::uploading || old == SyncState::pulling);
    log(routine ? SyncLogLevel::debug : SyncLogLevel::info,
        "upstream: " + std::string(to_string(old)) + " -> " + std::string(to_string(s)));
  }

  /// Reads the local last seq and the time of the oldest record the centre lacks (both primary
  /// key lookups: microseconds, fine on the loop).
  void refresh_local() {
    if (!local_db_) return;
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(local_db_.get(), "SELECT coalesce(max(seq), 0) FROM records", -1, &raw, nullptr) ==
        SQLITE_OK) {
      SqliteStmt st(raw);
      if (sqlite3_step(raw) == SQLITE_ROW) local_seq_ = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 0));
    }
    oldest_unsent_ms_.reset();
    if (local_seq_ > central_seq_) {
      if (auto t = local_record(central_seq_ + 1)) oldest_unsent_ms_ = t->first;
    }
  }

  /// Time and hash of a local record.
  std::optional<std::pair<std::int64_t, Hash>> local_record(std::uint64_t seq) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(local_db_.get(), "SELECT time_ms, hash FROM records WHERE seq = ?1", -1, &raw, nullptr) !=
        SQLITE_OK) {
      return std::nullopt;
    }
    SqliteStmt st(raw);
    sqlite3_bind_int64(raw, 1, static_cast<sqlite3_int64>(seq));
    if (sqlite3_step(raw) != SQLITE_ROW) return std::nullopt;
    Hash h{};
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(raw, 1));
    if (p == nullptr || sqlite3_column_bytes(raw, 1) != 32) return std::nullopt;
    std::copy(p, p + 32, h.begin());
    return std::make_pair(sqlite3_column_int64(raw, 0), h);
  }

  // ---- the housekeeping tick -------------------------------------------------------------------

  void arm_tick() {
    tick_timer_.expires_after(options_.tick);
    tick_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || !self->running_) return;
      self->on_tick();
      self->arm_tick();
    });
  }

  void on_tick() {
    const core::Instant now = clock_.now();
    refresh_local();
    if (busy_ && deadline_ && now >= *deadline_) {
      fail("timed out after " + seconds_text(options_.timeout) + " while " + doing_);
      return;
    }
    if (state_ == SyncState::backoff && now >= next_attempt_at_) {
      connect();
      return;
    }
    if (connected_ && !busy_) next_step();
  }

  // ---- connection ------------------------------------------------------------------------------

  void connect() {
    drop_connection();
    set_state(SyncState::connecting);
    ++connects_;
    const std::string connect_timeout = std::to_string(std::max<std::int64_t>(2, options_.timeout.count() / 1000));
    const std::string app_name = "zonegated/" + options_.gateway_id;
    std::vector<std::pair<const char*, const char*>> kv;
    // The DSN first (expanded), so that the settings after it win over anything it says.
    kv.emplace_back("dbname", options_.dsn.c_str());
    if (!options_.passfile.empty()) kv.emplace_back("passfile", options_.passfile.c_str());
    kv.emplace_back("sslmode", options_.sslmode.c_str());
    if (!options_.sslrootcert.empty()) kv.emplace_back("sslrootcert", options_.sslrootcert.c_str());
    if (!options_.sslcert.empty()) kv.emplace_back("sslcert", options_.sslcert.c_str());
    if (!options_.sslkey.empty()) kv.emplace_back("sslkey", options_.sslkey.c_str());
    kv.emplace_back("connect_timeout", connect_timeout.c_str());
    kv.emplace_back("application_name", app_name.c_str());
    // A silently dead link is noticed by the per-statement timeout; keepalives also close an idle
    // connection whose peer vanished.
    kv.emplace_back("keepalives", "1");
    kv.emplace_back("keepalives_idle", "30");
    kv.emplace_back("keepalives_interval", "10");
    kv.emplace_back("keepalives_count", "3");
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const auto& [k, v] : kv) {
      keys.push_back(k);
      values.push_back(v);
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    // Note: with a host name (not hostaddr) libpq resolves it inside PQconnectStartParams, which
    // blocks the loop for the resolver's time; a DSN with hostaddr (and host for TLS name checks)
    // avoids that.
    if (auto missing = libpq_load_error()) {
      begin_op("connecting");
      fail(*missing);
      return;
    }
    conn_ = PQconnectStartParams(keys.data(), values.data(), 1);
    begin_op("connecting");
    if (conn_ == nullptr) {
      fail("out of memory starting a connection");
      return;
    }
    if (PQstatus(conn_) == CONNECTION_BAD) {
      fail("cannot connect: " + trimmed(PQerrorMessage(conn_)));
      return;
    }
    // PQconnectPoll is first called once the socket is writable.
    poll_connect(PGRES_POLLING_WRITING);
  }

  void poll_connect(PostgresPollingStatusType want) {
    if (want == PGRES_POLLING_OK) {
      on_connected();
      return;
    }
    if (want == PGRES_POLLING_FAILED) {
      fail("cannot connect: " + trimmed(PQerrorMessage(conn_)));
      return;
    }
    if (!watch_socket()) return;
    wait_socket(want == PGRES_POLLING_WRITING, [this] { poll_connect(PQconnectPoll(conn_)); });
  }

  /// (Re)binds the descriptor to libpq's socket, which may change while connecting.
  bool watch_socket() {
    const int fd = PQsocket(conn_);
    if (fd < 0) {
      fail("cannot connect: libpq has no socket: " + trimmed(PQerrorMessage(conn_)));
      return false;
    }
    // While connecting, libpq may close its socket and open another that gets the same number
    // (a second host, an SSL retry), which epoll would no longer watch: bind afresh every time.
    boost::system::error_code ec;
    if (socket_fd_ >= 0) {
      socket_.cancel(ec);
      (void)socket_.release();
    }
    socket_.assign(fd, ec);
    if (ec) {
      fail("cannot watch the connection's socket: " + ec.message());
      return false;
    }
    socket_fd_ = fd;
    return true;
  }

  /// Waits for the socket; `then` runs on the loop unless the connection was dropped meanwhile.
  void wait_socket(bool write, std::function<void()> then) {
    const std::uint64_t gen = generation_;
    socket_.async_wait(
        write ? boost::asio::posix::stream_descriptor::wait_write : boost::asio::posix::stream_descriptor::wait_read,
        [self = shared_from_this(), gen, then = std::move(then)](const boost::system::error_code& ec) {
          if (!self->running_ || gen != self->generation_) return;
          if (ec) {
            self->fail("waiting for the connection: " + ec.message());
            return;
          }
          then();
        });
  }

  void drop_connection() {
    ++generation_;
    connected_ = false;
    busy_ = false;
    deadline_.reset();
    if (socket_fd_ >= 0) {
      boost::system::error_code ec;
      socket_.cancel(ec);
      // libpq owns the socket: release it from Asio, never close it here.
      (void)socket_.release();
      socket_fd_ = -1;
    }
    if (conn_ != nullptr) {
      PQfinish(conn_);
      conn_ = nullptr;
    }
  }

  void begin_op(std::string what) {
    busy_ = true;
    doing_ = std::move(what);
    deadline_ = clock_.now() + options_.timeout;
  }
  void end_op() {
    busy_ = false;
    deadline_.reset();
  }

  void fail(const std::string& why) {
    if (!running_) return;
    drop_connection();
    last_error_ = why;
    ++failures_;
    next_attempt_at_ = clock_.now() + backoff_;
    log(SyncLogLevel::warning, "upstream: " + why + "; retrying in " + seconds_text(backoff_));
    set_state(SyncState::backoff);
    const Ms current = backoff_;
    backoff_ = std::min<Ms>(current * 2, std::max(options_.backoff_max, options_.backoff_min));
  }

  /// A unit of work succeeded: the link works, the next failure starts the backoff anew.
  void succeeded() {
    backoff_ = options_.backoff_min;
    last_error_.clear();
  }

  void fault(const std::string& why) {
    if (!faulted_) {
      faulted_ = true;
      fault_reason_ = "chain fault: " + why;
      log(SyncLogLevel::error, "upstream: chain fault: " + why + "; uploads stopped (badge pulls go on)");
    }
  }

  // ---- statements ------------------------------------------------------------------------------

  using Results = std::vector<PgResult>;

  /// Sends one statement with text parameters, then collects its results.
  void query(const std::string& what, const std::string& sql, std::vector<std::string> params,
             std::function<void(Results)> then) {
    begin_op(what);
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.c_str());
    // Without parameters the simple protocol is used: it allows several statements in one string.
    const int sent = values.empty() ? PQsendQuery(conn_, sql.c_str())
                                    : PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                                        values.data(), nullptr, nullptr, 0);
    if (sent == 0) {
      fail(what + ": " + trimmed(PQerrorMessage(conn_)));
      return;
    }
    flush([this, what, then = std::move(then)]() mutable { collect(what, Results{}, std::move(then)); });
  }

  /// Flushes libpq's output buffer, waiting for the socket as needed.
  void flush(std::function<void()> then) {
    // Reading what the server sent (a notice, an early error) keeps it from blocking on us.
    if (PQconsumeInput(conn_) == 0) {
      fail(doing_ + ": " + trimmed(PQerrorMessage(conn_)));
      return;
    }
    const int r = PQflush(conn_);
    if (r < 0) {
      fail(doing_ + ": " + trimmed(PQerrorMessage(conn_)));
      return;
    }
    if (r == 0) {
      then();
      return;
    }
    wait_socket(true, [this, then = std::move(then)]() mutable { flush(std::move(then)); });
  }

  /// Collects results until libpq has none left (or a COPY IN starts).
  void collect(const std::string& what, Results results, std::function<void(Results)> then) {
    if (PQconsumeInput(conn_) == 0) {
      fail(what + ": " + trimmed(PQerrorMessage(conn_)));
      return;
    }
    while (PQisBusy(conn_) == 0) {
      PgResult r(PQgetResult(conn_));
      if (!r) {
        finish(what, std::move(results), std::move(then));
        return;
      }
      const ExecStatusType st = PQresultStatus(r.get());
      const bool copy_in = st == PGRES_COPY_IN;
      results.push_back(std::move(r));
      if (copy_in) {
        finish(what, std::move(results), std::move(then));
        return;
      }
    }
    wait_socket(false, [this, what, results = std::make_shared<Results>(std::move(results)),
                        then = std::move(then)]() mutable { collect(what, std::move(*results), std::move(then)); });
  }

  void finish(const std::string& what, Results results, std::function<void(Results)> then) {
    for (const auto& r : results) {
      const ExecStatusType st = PQresultStatus(r.get());
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN) {
        fail(what + ": " + trimmed(PQresultErrorMessage(r.get())));
        return;
      }
    }
    end_op();
    then(std::move(results));
  }

  // ---- after connecting: session settings, the centre's head, its last checkpoint --------------

  void on_connected() {
    // Server notices (e.g. "terminating connection due to administrator command") go to our log,
    // not to libpq's default of stderr.
    PQsetNoticeProcessor(
        conn_,
        [](void* arg, const char* message) {
          static_cast<const Impl*>(arg)->log(SyncLogLevel::info, "upstream: server notice: " + trimmed(message));
        },
        this);
    if (PQsetnonblocking(conn_, 1) != 0) {
      fail("cannot make the connection non-blocking: " + trimmed(PQerrorMessage(conn_)));
      return;
    }
    connected_ = true;
    end_op();
    // The server cancels a statement that runs too long as well; the client's own deadline
    // covers a link that is silently gone.
    const std::string settings =
        "SET statement_timeout = " + std::to_string(options_.timeout.count()) +
        "; SET idle_in_transaction_session_timeout = " + std::to_string(options_.timeout.count() * 2) +
        "; SET bytea_output = hex";
    query("configuring the session", settings, {},
          [this](Results) { read_head("reading the centre's chain head", [this] { on_head_after_connect(); }); });
  }

  /// Reads chain_heads for this gateway into central_seq_/central_hash_/central_faulted_.
  void read_head(const std::string& what, std::function<void()> then) {
    query(what, "SELECT seq, hash, faulted, checkpoint_seq FROM zonegate.chain_heads WHERE gateway_id = $1",
          {options_.gateway_id}, [this, what, then = std::move(then)](Results rs) {
            const PGresult* r = rs.empty() ? nullptr : rs.back().get();
            if (r == nullptr || PQntuples(r) != 1) {
              fail(what + ": the centre has no chain head for gateway " + options_.gateway_id +
                   " (run `zonegate upstream add-gateway`)");
              return;
            }
            std::uint64_t seq = 0;
            Hash h{};
            std::uint64_t checkpoint_seq = 0;
            if (!parse_int(PQgetvalue(r, 0, 0), seq) || !parse_hash(PQgetvalue(r, 0, 1), h) ||
                !parse_int(PQgetvalue(r, 0, 3), checkpoint_seq)) {
              fail(what + ": unexpected chain_heads row");
              return;
            }
            central_seq_ = seq;
            central_hash_ = h;
            central_faulted_ = std::string_view(PQgetvalue(r, 0, 2)) == "t";
            central_checkpoint_seq_ = checkpoint_seq;
            then();
          });
  }

  void on_head_after_connect() {
    refresh_local();
    if (central_faulted_) {
      fault("the centre marked this gateway's chain faulted at seq " + std::to_string(central_seq_) +
            " (see zonegate.chain_faults)");
    } else if (central_seq_ > local_seq_) {
      fault("the centre holds " + std::to_string(central_seq_) + " records of this gateway but the local trail only " +
            std::to_string(local_seq_) + " (local trail truncated or replaced?)");
    } else if (central_seq_ > 0) {
      auto local = local_record(central_seq_);
      if (!local) {
        fail("cannot read local record " + std::to_string(central_seq_));
        return;
      }
      if (local->second != central_hash_) {
        fault("record " + std::to_string(central_seq_) + " differs between the centre and the local trail (fork)");
      }
    }
    log(SyncLogLevel::info, "upstream: connected; the centre holds seq " + std::to_string(central_seq_) +
                                ", the local trail " + std::to_string(local_seq_));
    set_state(SyncState::idle);
    next_step();
  }

  // ---- what to do next -------------------------------------------------------------------------

  void next_step() {
    if (!running_ || !connected_ || busy_) return;
    const core::Instant now = clock_.now();
    if (!next_pull_at_ || now >= *next_pull_at_) {
      pull();
      return;
    }
    if (!faulted_ && local_seq_ > central_seq_) {
      upload();
      return;
    }
    if (!faulted_ && (checkpoint_check_at_seq_ != central_seq_ || ++ticks_since_checkpoint_check_ >= 25)) {
      checkpoint_check_at_seq_ = central_seq_;
      ticks_since_checkpoint_check_ = 0;
      if (upload_checkpoints()) return;
    }
    set_state(SyncState::idle);
  }

  // ---- records up ------------------------------------------------------------------------------

  void upload() {
    set_state(SyncState::uploading);
    begin_op("reading local records");
    // Reading the trail is local and bounded; no server deadline applies to it.
    deadline_.reset();
    if (prefetched_ && prefetched_->after == central_seq_) {
      Chunk c = std::move(*prefetched_);
      prefetched_.reset();
      send_chunk(std::move(c));
      return;
    }
    prefetched_.reset();
    waiting_for_chunk_ = central_seq_;
    if (!reader_requested_ || *reader_requested_ != central_seq_) {
      reader_requested_ = central_seq_;
      reader_->request(central_seq_, options_.batch);
    }
  }

  void on_chunk(Chunk c) {
    if (!running_) return;
    if (reader_requested_ && *reader_requested_ == c.after) reader_requested_.reset();
    if (waiting_for_chunk_ && *waiting_for_chunk_ == c.after && connected_ && busy_) {
      waiting_for_chunk_.reset();
      send_chunk(std::move(c));
    } else {
      prefetched_ = std::move(c);
    }
  }

  void send_chunk(Chunk c) {
    if (!c.error.empty()) {
      fail(c.error);
      return;
    }
    end_op();
    if (c.count == 0 || c.first_seq != central_seq_ + 1) {
      // The trail changed under us (cannot happen with an append-only log) or there is nothing.
      refresh_local();
      next_step_later();
      return;
    }
    // Encode the next batch while this one is on the wire.
    if (c.last_seq < local_seq_) {
      reader_requested_ = c.last_seq;
      reader_->request(c.last_seq, options_.batch);
    }
    auto chunk = std::make_shared<Chunk>(std::move(c));
    // Partitions are created outside the upload transaction: their locks are then held briefly,
    // not for the whole COPY, and other gateways' uploads do not wait on ours.
    query("creating partitions", "SELECT zonegate.ensure_partitions($1, $2)",
          {std::to_string(chunk->min_time_ms), std::to_string(chunk->max_time_ms)}, [this, chunk](Results) {
            query("beginning an upload", "BEGIN", {}, [this, chunk](Results) {
              query("starting COPY", std::string("COPY zonegate.events (") + kEventColumns + ") FROM STDIN", {},
                    [this, chunk](Results rs) {
                      if (rs.empty() || PQresultStatus(rs.back().get()) != PGRES_COPY_IN) {
                        fail("starting COPY: the server did not accept COPY data");
                        return;
                      }
                      begin_op("uploading records " + std::to_string(chunk->first_seq) + ".." +
                               std::to_string(chunk->last_seq));
                      put_copy(chunk, 0);
                    });
            });
          });
  }

  void put_copy(const std::shared_ptr<Chunk>& chunk, std::size_t offset) {
    while (offset < chunk->data.size()) {
      const std::size_t n = std::min(kCopyPiece, chunk->data.size() - offset);
      const int r = PQputCopyData(conn_, chunk->data.data() + offset, static_cast<int>(n));
      if (r < 0) {
        fail(doing_ + ": " + trimmed(PQerrorMessage(conn_)));
        return;
      }
      if (r == 0) break;  // libpq's buffer is full: flush first
      offset += n;
      copy_bytes_since_fault_ += n;
      if (faults_.drop_after_copy_bytes != 0 && copy_bytes_since_fault_ >= faults_.drop_after_copy_bytes) {
        faults_.drop_after_copy_bytes = 0;
        fail(doing_ + ": connection dropped (injected fault)");
        return;
      }
      // Hand the socket its data and come back through the loop, so other work runs in between.
      flush([this, chunk, offset] {
        boost::asio::post(io_, guarded([this, chunk, offset] { put_copy(chunk, offset); }));
      });
      return;
    }
    if (offset < chunk->data.size()) {
      flush([this, chunk, offset] { put_copy(chunk, offset); });
      return;
    }
    end_copy(chunk);
  }

  void end_copy(const std::shared_ptr<Chunk>& chunk) {
    const int r = PQputCopyEnd(conn_, nullptr);
    if (r < 0) {
      fail(doing_ + ": " + trimmed(PQerrorMessage(conn_)));
      return;
    }
    if (r == 0) {
      wait_socket(true, [this, chunk] { end_copy(chunk); });
      return;
    }
    const std::string what = doing_;
    flush([this, chunk, what] {
      collect(what, Results{}, [this, chunk](Results) {
        query("committing an upload", "COMMIT", {}, [this, chunk](Results) {
          read_head("reading the centre's chain head", [this, chunk] { on_batch_committed(*chunk); });
        });
      });
    });
  }

  void on_batch_committed(const Chunk& c) {
    if (central_seq_ == c.last_seq && !central_faulted_) {
      ++batches_uploaded_;
      records_uploaded_ += c.count;
      last_upload_at_ = clock_.now();
      succeeded();
      refresh_local();
      next_step_later();
      return;
    }
    if (central_faulted_) {
      fault("the centre refused records " + std::to_string(c.first_seq) + ".." + std::to_string(c.last_seq) +
            " and marked this gateway's chain faulted at seq " + std::to_string(central_seq_) +
            " (see zonegate.chain_faults)");
      refresh_local();
      next_step_later();
      return;
    }
    fail("the centre's chain head is at seq " + std::to_string(central_seq_) + " after a batch ending at seq " +
         std::to_string(c.last_seq));
  }

  /// Continues with the next step from a fresh loop turn (lets queued badge events run first).
  void next_step_later() {
    boost::asio::post(io_, guarded([this] { next_step(); }));
  }

  /// Wraps a continuation so that it does nothing if the connection was dropped meanwhile.
  std::function<void()> guarded(std::function<void()> f) {
    return [self = shared_from_this(), gen = generation_, f = std::move(f)] {
      if (self->running_ && gen == self->generation_) f();
    };
  }

  // ---- checkpoints up --------------------------------------------------------------------------

  /// Starts uploading the local checkpoints the centre lacks up to its head; false if none.
  bool upload_checkpoints() {
    auto cps = audit_.checkpoints(central_checkpoint_seq_, kCheckpointsPerInsert);
    if (!cps) {
      log(SyncLogLevel::warning, "upstream: reading local checkpoints: " + cps.error().message);
      return false;
    }
    std::vector<audit::Checkpoint> due;
    for (auto& cp : *cps) {
      if (cp.seq > central_seq_) break;
      due.push_back(std::move(cp));
    }
    if (due.empty()) return false;
    set_state(SyncState::uploading);
    std::string sql = "INSERT INTO zonegate.checkpoints (gateway_id, seq, time_ms, hash, key_id, signature) VALUES ";
    std::vector<std::string> params;
    for (std::size_t i = 0; i < due.size(); ++i) {
      const audit::Checkpoint& cp = due[i];
      const std::size_t b = i * 6;
      if (i > 0) sql += ", ";
      sql += "($" + std::to_string(b + 1) + ", $" + std::to_string(b + 2) + ", $" + std::to_string(b + 3) + ", $" +
             std::to_string(b + 4) + "::bytea, $" + std::to_string(b + 5) + "::bytea, $" + std::to_string(b + 6) +
             "::bytea)";
      params.push_back(options_.gateway_id);
      params.push_back(std::to_string(cp.seq));
      params.push_back(std::to_string(ms_of(cp.at)));
      params.push_back(bytea_literal(cp.hash));
      params.push_back(bytea_literal(cp.key_id));
      params.push_back(bytea_literal(cp.signature));
    }
    const std::uint64_t last = due.back().seq;
    const std::size_t n = due.size();
    query("uploading checkpoints", sql, std::move(params), [this, last, n](Results) {
      read_head("reading the centre's chain head", [this, last, n] {
        if (central_faulted_) {
          fault("the centre refused a checkpoint up to seq " + std::to_string(last) +
                " and marked this gateway's chain faulted (see zonegate.chain_faults)");
        } else {
          // The trigger skips an identical re-insert without advancing checkpoint_seq.
          central_checkpoint_seq_ = std::max(central_checkpoint_seq_, last);
          checkpoints_uploaded_ += n;
          checkpoint_check_at_seq_ = ~std::uint64_t{0};  // look again: there may be more
        }
        next_step_later();
      });
    });
    return true;
  }

  // ---- badges down -----------------------------------------------------------------------------

  void pull() {
    set_state(SyncState::pulling);
    const std::int64_t since = credentials_.version();
    const std::uint32_t max_rows = pull_max_rows_ != 0 ? pull_max_rows_ : options_.pull_max_rows;
    query("pulling badge changes",
          "SELECT version, what, id, person_id, name, roles, kind, valid_from_ms, valid_until_ms, revoked, deleted "
          "FROM zonegate.pull_changes($1, $2)",
          {std::to_string(since), std::to_string(max_rows)},
          [this, since, max_rows](Results rs) { on_pulled(rs, since, max_rows); });
  }

  void on_pulled(const Results& rs, std::int64_t since, std::uint32_t max_rows) {
    const PGresult* r = rs.empty() ? nullptr : rs.back().get();
    if (r == nullptr || PQnfields(r) < 11) {
      fail("pulling badge changes: unexpected result");
      return;
    }
    const int rows = PQntuples(r);
    std::vector<credentials::Change> batch;
    batch.reserve(static_cast<std::size_t>(rows));
    std::int64_t max_version = since;
    const core::Instant now = clock_.now();
    for (int i = 0; i < rows; ++i) {
      const auto text = [&](int col) { return std::string(PQgetvalue(r, i, col), PQgetlength(r, i, col)); };
      const auto null = [&](int col) { return PQgetisnull(r, i, col) != 0; };
      const auto flag = [&](int col) { return !null(col) && text(col) == "t"; };
      std::int64_t version = 0;
      if (!parse_int(text(0), version)) {
        fail("pulling badge changes: bad version in row " + std::to_string(i));
        return;
      }
      max_version = std::max(max_version, version);
      const std::string what = text(1);
      const bool deleted = flag(10);
      if (what == "person") {
        if (deleted) {
          batch.emplace_back(credentials::RemovePerson{text(2)});
          continue;
        }
        credentials::Person p;
        p.id = text(2);
        p.name = null(4) ? std::string() : text(4);
        if (!null(5) && !parse_text_array(text(5), p.roles)) {
          fail("pulling badge changes: bad roles of person " + p.id);
          return;
        }
        batch.emplace_back(std::move(p));
      } else if (what == "badge") {
        if (deleted) {
          batch.emplace_back(credentials::RemoveBadge{text(2)});
          continue;
        }
        credentials::Badge b;
        b.uid = text(2);
        b.person = text(3);
        b.kind = text(6) == "desfire" ? core::CredentialKind::desfire : core::CredentialKind::uid;
        std::int64_t ms = 0;
        if (!null(7) && parse_int(text(7), ms)) b.valid_from = instant_of(ms);
        if (!null(8) && parse_int(text(8), ms)) b.valid_until = instant_of(ms);
        b.revoked = flag(9);
        batch.emplace_back(std::move(b));
      } else {
        fail("pulling badge changes: unknown change kind '" + what + "'");
        return;
      }
    }
    const bool full = rows >= static_cast<int>(max_rows);
    if (!batch.empty()) {
      auto applied = credentials_.apply_changes(batch, max_version, now);
      if (!applied) {
        const auto& e = applied.error();
        if (e.code == credentials::Errc::conflict) {
          // Someone else (the CLI) applied a batch meanwhile: pull again from the new version.
          next_step_later();
          return;
        }
        if (e.code == credentials::Errc::invalid_argument && full && max_rows < kPullMaxRowsCap) {
          // A badge whose person lies beyond this page: take a larger page.
          pull_max_rows_ = std::min(kPullMaxRowsCap, max_rows * 2);
          next_step_later();
          return;
        }
        fail("applying badge changes up to version " + std::to_string(max_version) + ": " + e.message);
        return;
      }
      ++pulls_applied_;
      log(SyncLogLevel::info, "upstream: applied " + std::to_string(batch.size()) + " badge change(s) up to version " +
                                  std::to_string(max_version));
    }
    succeeded();
    if (!full) {
      pull_max_rows_ = 0;
      next_pull_at_ = clock_.now() + options_.pull_interval;
    }
    next_step_later();
  }

  // ---- state -----------------------------------------------------------------------------------

  boost::asio::io_context& io_;
  ports::Clock& clock_;
  audit::AuditStore& audit_;
  credentials::CredentialStore& credentials_;
  SyncOptions options_;
  std::string redacted_dsn_;

  PGconn* conn_ = nullptr;
  boost::asio::posix::stream_descriptor socket_;
  int socket_fd_ = -1;
  boost::asio::steady_timer tick_timer_;
  std::uint64_t generation_ = 0;  // bumped by every drop; stale continuations compare it
  bool running_ = false;
  bool connected_ = false;
  bool busy_ = false;
  std::string doing_;
  std::optional<core::Instant> deadline_;

  SyncState state_ = SyncState::disabled;
  bool faulted_ = false;
  std::string fault_reason_;
  Ms backoff_{1000};
  core::Instant next_attempt_at_{};
  std::optional<core::Instant> next_pull_at_;
  std::uint32_t pull_max_rows_ = 0;
  std::string last_error_;
  std::optional<core::Instant> last_upload_at_;

  SqliteDb local_db_;
  std::unique_ptr<LocalReader> reader_;
  std::optional<Chunk> prefetched_;
  std::optional<std::uint64_t> reader_requested_;
  std::optional<std::uint64_t> waiting_for_chunk_;
  std::uint64_t local_seq_ = 0;
  std::optional<std::int64_t> oldest_unsent_ms_;

  std::uint64_t central_seq_ = 0;
  Hash central_hash_{};
  bool central_faulted_ = false;
  std::uint64_t central_checkpoint_seq_ = 0;
  std::uint64_t checkpoint_check_at_seq_ = ~std::uint64_t{0};
  unsigned ticks_since_checkpoint_check_ = 0;

  SyncFaults faults_;
  std::uint64_t copy_bytes_since_fault_ = 0;
  std::uint64_t connects_ = 0;
  std::uint64_t failures_ = 0;
  std::uint64_t records_uploaded_ = 0;
  std::uint64_t batches_uploaded_ = 0;
  std::uint64_t checkpoints_uploaded_ = 0;
  std::uint64_t pulls_applied_ = 0;
};

// ------------------------------------------------------------------------------------------------

UpstreamSync::UpstreamSync(boost::asio::io_context& io, ports::Clock& clock, audit::AuditStore& audit,
                           credentials::CredentialStore& credentials, SyncOptions options)
    : impl_(std::make_shared<Impl>(io, clock, audit, credentials, std::move(options))) {}

UpstreamSync::~UpstreamSync() { impl_->stop(); }

std::optional<std::string> UpstreamSync::start() { return impl_->start(); }
void UpstreamSync::stop() { impl_->stop(); }
void UpstreamSync::pull_now() { impl_->pull_now(); }
void UpstreamSync::inject(const SyncFaults& faults) { impl_->inject(faults); }
SyncStatus UpstreamSync::status() const { return impl_->status(); }

nlohmann::json UpstreamSync::status_json() const {
  const SyncStatus s = impl_->status();
  nlohmann::json j;
  j["state"] = std::string(to_string(s.state));
  j["dsn"] = s.dsn;
  j["local_seq"] = s.local_seq;
  j["central_seq"] = s.central_seq;
  j["lag_records"] = s.lag_records;
  j["lag_seconds"] = s.lag_seconds;
  j["last_error"] = s.last_error;
  j["last_pull_version"] = s.last_pull_version;
  j["last_upload_at"] = s.last_upload_at ? nlohmann::json(iso8601(*s.last_upload_at)) : nlohmann::json(nullptr);
  j["central_checkpoint_seq"] = s.central_checkpoint_seq;
  j["backoff_ms"] = s.backoff.count();
  j["next_attempt_at"] = s.next_attempt_at ? nlohmann::json(iso8601(*s.next_attempt_at)) : nlohmann::json(nullptr);
  j["records_uploaded"] = s.records_uploaded;
  j["failures"] = s.failures;
  return j;
}

}  // namespace zonegate::adapters::upstream
