// SPDX-License-Identifier: Apache-2.0
/// @file
/// `zonegate audit verify --upstream`: holds a gateway's local audit trail against the central
/// database's copy of it and the checkpoints the gateway sent there. Detects a local log that was
/// truncated, edited or replaced by another history (forked), and central checkpoints that are
/// forged or that the local chain does not contain. docs/upstream.md, "Verifying a gateway".
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "adapters/audit/audit_store.hpp"

namespace zonegate::adapters::upstream {

struct CentralVerifyOptions {
  /// The gateway whose copy to compare; empty: the local trail's own gateway id.
  std::string gateway_id;
  /// Public key (PEM) for the central checkpoints' signatures. Default: the key registered in
  /// zonegate.gateways.public_key_pem, else audit-signing.pub beside the local database.
  std::optional<std::filesystem::path> public_key;
  /// Rows fetched per central query (keyset paging by seq: memory stays flat for any length).
  std::uint32_t page_rows = 10000;
};

enum class CentralVerifyStatus : std::uint8_t {
  ok,        ///< the local trail holds everything the centre holds, unchanged
  mismatch,  ///< a divergence; `kind`, `seq` and `message` say which and where
  error,     ///< could not compare (connection, permissions, unknown gateway, unreadable trail)
};

struct CentralVerifyResult {
  CentralVerifyStatus status = CentralVerifyStatus::error;
  /// For a mismatch: "truncated", "edited", "forked", "checkpoint" (a central checkpoint the local
  /// chain does not contain), "signature" (a central checkpoint that does not verify),
  /// "central" (the central copy contradicts itself), "local" (the local trail fails its own check).
  std::string kind;
  std::uint64_t seq = 0;  ///< the first divergent seq (0 when not tied to one record)
  std::string message;
  std::uint64_t records_compared = 0;
  std::uint64_t checkpoints_checked = 0;
  std::uint64_t central_head = 0;  ///< highest seq the centre holds
  std::uint64_t local_last = 0;    ///< last seq of the local trail
  bool central_faulted = false;    ///< the centre flagged this gateway's chain (chain_faults)
};

/// Compares. `conn` needs SELECT on gateways, chain_heads, events and checkpoints (an auditor or
/// an administrator, not a gateway role). The central side is read in one REPEATABLE READ
/// snapshot taken before the local one, so a gateway that keeps appending and uploading while
/// this runs does not cause a false alarm.
CentralVerifyResult verify_against_central(PGconn* conn, audit::AuditStore& local, const CentralVerifyOptions& options);

}  // namespace zonegate::adapters::upstream
