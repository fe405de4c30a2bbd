// SPDX-License-Identifier: Apache-2.0
/// @file
/// A SQLite VFS shim over the default VFS whose writes and fsyncs can be made to fail on demand
/// (SQLITE_FULL, SQLITE_IOERR_WRITE, SQLITE_IOERR_FSYNC), so tests can drive the daemon's
/// fail-secure path through real SQLite error handling. Internal to the audit adapter.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "adapters/audit/audit_store.hpp"

namespace zonegate::adapters::audit {

class FaultVfs {
 public:
  /// Registers a uniquely named shim (not the default VFS). nullptr if SQLite refuses.
  static std::unique_ptr<FaultVfs> create();
  ~FaultVfs();
  FaultVfs(const FaultVfs&) = delete;
  FaultVfs& operator=(const FaultVfs&) = delete;

  [[nodiscard]] const char* name() const { return name_.c_str(); }
  void arm(std::optional<Fault> fault);
  [[nodiscard]] std::uint64_t fired() const { return fired_.load(); }

  /// Called by the shim for each write (is_sync=false) or sync: returns the SQLite code to fail
  /// with, or SQLITE_OK to pass the call through.
  int on_io(bool is_sync);

  [[nodiscard]] sqlite3_vfs* real() const { return real_; }

 private:
  FaultVfs() = default;
  sqlite3_vfs vfs_{};
  sqlite3_vfs* real_ = nullptr;
  std::string name_;
  std::mutex mutex_;
  std::optional<Fault> fault_;
  std::uint64_t countdown_ = 0;
  bool firing_ = false;
  std::atomic<std::uint64_t> fired_{0};
};

}  // namespace zonegate::adapters::audit
