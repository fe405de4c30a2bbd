// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the audit and credential store tests: a temporary directory, a small site
// policy built in code, instants, and raw SQLite access for tampering.
#pragma once

#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "core/policy.hpp"
#include "core/types.hpp"

namespace zonegate::test {

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/zonegate-audit-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline core::Instant at_ms(std::int64_t ms) { return core::Instant{core::Duration{ms}}; }
/// 2026-03-02T00:00:00Z plus `days` and `ms`.
inline core::Instant day(int days, std::int64_t ms = 0) {
  return at_ms(1772409600000LL + static_cast<std::int64_t>(days) * 86'400'000LL + ms);
}

/// outside > office > db-view > db-ops, one door into each, a gate, a tamper input and four roles.
inline core::Policy sample_policy() {
  core::Policy p;
  p.site_name = "sample";
  p.source_hash = "sha256:00";
  auto zone = [&](std::string id, core::ZoneIdx parent) {
    core::Zone z;
    z.id = std::move(id);
    z.parent = parent;
    p.zones.push_back(z);
  };
  zone("outside", core::kNoIdx);
  zone("office", 0);
  zone("db-view", 1);
  zone("db-ops", 2);
  auto door = [&](std::string id, core::ZoneIdx outer, core::ZoneIdx inner) {
    core::Door d;
    d.id = std::move(id);
    d.outer = outer;
    d.inner = inner;
    p.doors.push_back(d);
  };
  door("lobby", 0, 1);
  door("view-door", 1, 2);
  door("ops-door", 2, 3);
  p.gates.push_back(core::Gate{"view-gate", 1});
  p.tampers.push_back(core::TamperInput{"cabinet"});
  for (const char* r : {"employee", "dba", "guard", "contractor"}) {
    core::Role role;
    role.id = r;
    role.zones.resize(p.zones.size());
    role.may_escort.resize(p.zones.size(), false);
    p.roles.push_back(role);
  }
  p.finalize();
  return p;
}

/// A raw connection to a database file, for tampering the way an attacker with shell access would.
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& file) {
    if (sqlite3_open(file.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("sqlite3_open failed");
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  ~RawDb() { sqlite3_close(db_); }
  /// Runs SQL; returns the SQLite result code and the error message (empty on success).
  int exec(const std::string& sql, std::string* error = nullptr) {
    char* msg = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg);
    if (error != nullptr) *error = msg != nullptr ? msg : "";
    sqlite3_free(msg);
    return rc;
  }
  std::int64_t scalar(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    std::int64_t v = -1;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
  }
  [[nodiscard]] sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace zonegate::test
