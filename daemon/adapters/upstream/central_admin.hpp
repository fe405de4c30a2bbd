// SPDX-License-Identifier: Apache-2.0
/// @file
/// Administration of the central PostgreSQL database (schema `zonegate`): creating and updating the
/// schema, and registering gateways with their login roles. docs/upstream.md is the reference for
/// the schema, its roles and how chain continuity is enforced.
///
/// For clients uploading as a gateway role: `zonegate.events` and `zonegate.checkpoints` carry no
/// row-level security (PostgreSQL refuses COPY FROM into a table with RLS enabled); a BEFORE INSERT
/// trigger refuses rows of another gateway instead. Gateways cannot SELECT those tables: they read
/// `zonegate.chain_heads` (own row; `seq`, `hash`, `checkpoint_seq`, `faulted`) and the views
/// `zonegate.my_events` / `zonegate.my_checkpoints`. Call `zonegate.ensure_partitions()` in its own
/// short transaction before an upload transaction (it may create a table).
#pragma once

#include <libpq-fe.h>

#include <string>
#include <string_view>
#include <vector>

namespace zonegate::adapters::upstream {

/// Outcome of an administrative step: `ok`, a one-line summary, and what was changed (empty when
/// nothing needed changing).
struct AdminResult {
  bool ok = false;
  std::string message;
  std::vector<std::string> actions;
};

/// The DDL of the central schema (daemon/adapters/upstream/central_schema.sql, embedded).
std::string_view central_schema_sql();

/// Schema version written by this build into zonegate.schema_meta.
inline constexpr int kCentralSchemaVersion = 1;

/// Creates or updates the schema, the group roles zonegate_gateway, zonegate_auditor and
/// zonegate_admin, grants and policies, in one transaction. Idempotent: a second run changes
/// nothing and reports no action. Needs a superuser or the database owner with CREATEROLE.
AdminResult init_schema(PGconn* conn);

/// A gateway as `zonegate upstream add-gateway` registers it.
struct GatewaySpec {
  std::string gateway_id;      ///< ^[a-z0-9-]{1,63}$, as daemon.gateway_id
  std::string site;            ///< site whose people and badges the gateway pulls
  std::string role;            ///< login role; empty: default_gateway_role(gateway_id)
  std::string password;        ///< empty: keep the role's password (or none for a new role)
  std::string public_key_pem;  ///< the gateway's audit-signing.pub; empty: keep the stored one
};

/// `zg_gw_` + the gateway id with '-' replaced by '_'.
std::string default_gateway_role(std::string_view gateway_id);

/// Creates or updates the gateway row, its LOGIN role (member of zonegate_gateway, no other
/// rights) and its chain_heads row, in one transaction. The password is sent as a SCRAM verifier
/// computed on the client (PQencryptPasswordConn), never in clear text. Refuses to move an
/// existing gateway to another role or site (its local badge store follows one site's versions).
AdminResult add_gateway(PGconn* conn, const GatewaySpec& spec);

}  // namespace zonegate::adapters::upstream
