// SPDX-License-Identifier: Apache-2.0
#include "adapters/upstream/central_admin.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <map>
#include <memory>
#include <regex>

#include "adapters/upstream/pg.hpp"

namespace zonegate::adapters::upstream {
namespace {

// What init changed is found by comparing a fingerprint of every catalog object the schema owns
// before and after running it: CREATE OR REPLACE rewrites catalog rows even when nothing differs,
// so the statements themselves cannot tell.
constexpr const char* kFingerprintSql = R"sql(
SELECT 'role ' || r.rolname, r.rolcanlogin::text
  FROM pg_catalog.pg_roles r WHERE r.rolname IN ('zonegate_gateway', 'zonegate_auditor', 'zonegate_admin')
UNION ALL
SELECT 'schema ' || n.nspname, coalesce(n.nspacl::text, '')
  FROM pg_catalog.pg_namespace n WHERE n.nspname = 'zonegate'
UNION ALL
SELECT CASE WHEN c.relkind IN ('r', 'p') THEN 'table' WHEN c.relkind IN ('i', 'I') THEN 'index'
            WHEN c.relkind = 'S' THEN 'sequence' ELSE 'view' END || ' zonegate.' || c.relname,
       md5(concat_ws('|', c.relacl::text, c.relrowsecurity, c.relforcerowsecurity, c.reloptions::text,
           CASE WHEN c.relkind = 'v' THEN pg_catalog.pg_get_viewdef(c.oid) END,
           CASE WHEN c.relkind IN ('i', 'I') THEN pg_catalog.pg_get_indexdef(c.oid) END,
           (SELECT string_agg(a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod) || ' ' ||
                              a.attnotnull, ',' ORDER BY a.attnum)
              FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
           (SELECT string_agg(pg_catalog.pg_get_constraintdef(k.oid), ',' ORDER BY k.conname)
              FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid),
           (SELECT string_agg(pg_catalog.pg_get_triggerdef(t.oid), ',' ORDER BY t.tgname)
              FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
           (SELECT string_agg(concat_ws(' ', p.polname, p.polcmd, p.polroles::regrole[]::text,
                                        pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                                        pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)), ',' ORDER BY p.polname)
              FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid)))
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'zonegate' AND c.relkind IN ('r', 'p', 'i', 'I', 'S', 'v')
UNION ALL
SELECT 'function zonegate.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
       md5(pg_catalog.pg_get_functiondef(p.oid) || coalesce(p.proacl::text, ''))
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'zonegate'
)sql";

using Fingerprint = std::map<std::string, std::string>;

bool fingerprint(PGconn* conn, Fingerprint& out, std::string& error) {
  pg::Res res = pg::exec(conn, kFingerprintSql, {}, &error);
  if (!res) return false;
  out.clear();
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    out.emplace(std::string(pg::text(res.get(), i, 0)), std::string(pg::text(res.get(), i, 1)));
  }
  return true;
}

/// Rolls back unless committed: every early return of an admin step leaves nothing behind.
class Transaction {
 public:
  explicit Transaction(PGconn* conn) : conn_(conn) {}
  ~Transaction() {
    if (open_) pg::exec(conn_, "ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  bool begin(std::string& error) {
    // NOTICEs ("relation … already exists, skipping") would go to libpq's default notice
    // processor, i.e. stderr; the outcome is reported through AdminResult instead.
    open_ = static_cast<bool>(pg::exec(conn_, "BEGIN", {}, &error));
    return open_ && pg::exec(conn_, "SET LOCAL client_min_messages = warning", {}, &error);
  }
  bool commit(std::string& error) {
    const bool ok = static_cast<bool>(pg::exec(conn_, "COMMIT", {}, &error));
    open_ = false;
    return ok;
  }

 private:
  PGconn* conn_;
  bool open_ = false;
};

AdminResult failure(std::string message) { return AdminResult{false, std::move(message), {}}; }

bool valid_gateway_id(const std::string& id) {
  static const std::regex re("^[a-z0-9-]{1,63}$");
  return std::regex_match(id, re);
}

bool valid_role_name(const std::string& role) {
  static const std::regex re("^[a-z_][a-z0-9_]{0,62}$");
  return std::regex_match(role, re);
}

/// Empty if `pem` is one Ed25519 public key in PEM (SubjectPublicKeyInfo), else why not.
std::string check_public_key(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return "out of memory";
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
                                                          &EVP_PKEY_free);
  if (!key) return "not a PEM public key";
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) return "not an Ed25519 key";
  return {};
}

}  // namespace

std::string default_gateway_role(std::string_view gateway_id) {
  std::string role = "zg_gw_";
  for (const char c : gateway_id) role += c == '-' ? '_' : c;
  return role;
}

AdminResult init_schema(PGconn* conn) {
  if (PQserverVersion(conn) < 140000) {
    return failure("the central database needs PostgreSQL 14 or later (this server is " +
                   std::to_string(PQserverVersion(conn)) + ")");
  }
  std::string error;
  Transaction tx(conn);
  if (!tx.begin(error)) return failure("cannot start the transaction: " + error);
  Fingerprint before;
  Fingerprint after;
  if (!fingerprint(conn, before, error)) return failure("cannot read the catalog: " + error);
  const std::string sql(central_schema_sql());
  // PQexec: the simple query protocol runs the whole multi-statement script, inside our BEGIN.
  pg::Res res(PQexec(conn, sql.c_str()));
  const auto status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return failure("creating the schema failed: " + (res ? pg::error_text(res.get()) : pg::error_text(conn)));
  }
  if (!fingerprint(conn, after, error)) return failure("cannot read the catalog: " + error);
  AdminResult out;
  for (const auto& [name, print] : after) {
    const auto it = before.find(name);
    if (it == before.end()) {
      out.actions.push_back("created " + name);
    } else if (it->second != print) {
      out.actions.push_back("updated " + name);
    }
  }
  if (!tx.commit(error)) return failure("commit failed: " + error);
  out.ok = true;
  const std::string version = std::to_string(kCentralSchemaVersion);
  out.message = out.actions.empty() ? "schema zonegate (version " + version + ") is up to date: nothing changed"
                                    : "schema zonegate (version " + version +
                                          "): " + std::to_string(out.actions.size()) + " object(s) created or updated";
  return out;
}

AdminResult add_gateway(PGconn* conn, const GatewaySpec& spec) {
  if (!valid_gateway_id(spec.gateway_id)) {
    return failure("invalid gateway id '" + spec.gateway_id + "': 1 to 63 of a-z, 0-9 and '-'");
  }
  if (spec.site.empty()) return failure("the site must not be empty");
  const std::string role = spec.role.empty() ? default_gateway_role(spec.gateway_id) : spec.role;
  if (!valid_role_name(role)) {
    return failure("invalid role name '" + role + "': 1 to 63 of a-z, 0-9 and '_', not starting with a digit");
  }
  if (!spec.public_key_pem.empty()) {
    if (auto why = check_public_key(spec.public_key_pem); !why.empty()) {
      return failure("the public key is unusable: " + why + " (expected the gateway's audit-signing.pub)");
    }
  }
  std::string error;
  Transaction tx(conn);
  if (!tx.begin(error)) return failure("cannot start the transaction: " + error);
  pg::Res res = pg::exec(conn, "SELECT to_regclass('zonegate.gateways') IS NOT NULL", {}, &error);
  if (!res) return failure(error);
  if (pg::text(res.get(), 0, 0) != "t")
    return failure("no zonegate schema in this database: run `zonegate upstream init` first");

  AdminResult out;
  res = pg::exec(conn, "SELECT site, role_name, public_key_pem FROM zonegate.gateways WHERE gateway_id = $1 FOR UPDATE",
                 {pg::Param::text(spec.gateway_id)}, &error);
  if (!res) return failure(error);
  const bool exists = PQntuples(res.get()) == 1;
  std::string stored_key;
  if (exists) {
    const std::string site(pg::text(res.get(), 0, 0));
    const std::string stored_role(pg::text(res.get(), 0, 1));
    stored_key = std::string(pg::text(res.get(), 0, 2));
    if (site != spec.site) {
      return failure("gateway " + spec.gateway_id + " belongs to site " + site +
                     "; moving a gateway to another site is not supported (register a new gateway id)");
    }
    if (stored_role != role) {
      return failure("gateway " + spec.gateway_id + " logs in as role " + stored_role + ", not " + role);
    }
  } else {
    res = pg::exec(conn, "SELECT gateway_id FROM zonegate.gateways WHERE role_name = $1", {pg::Param::text(role)},
                   &error);
    if (!res) return failure(error);
    if (PQntuples(res.get()) != 0) {
      return failure("role " + role + " is already used by gateway " + std::string(pg::text(res.get(), 0, 0)));
    }
  }

  // The login role: created, or adopted only if it holds no privilege a gateway must not have.
  res = pg::exec(
      conn,
      "SELECT r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls"
      "    OR pg_has_role(r.oid, 'zonegate_admin', 'MEMBER') OR pg_has_role(r.oid, 'zonegate_auditor', 'MEMBER'),"
      "  pg_has_role(r.oid, 'zonegate_gateway', 'MEMBER'), r.rolcanlogin"
      " FROM pg_catalog.pg_roles r WHERE r.rolname = $1",
      {pg::Param::text(role)}, &error);
  if (!res) return failure(error);
  const std::string ident = pg::quote_ident(conn, role);
  if (PQntuples(res.get()) == 0) {
    const std::string sql = "CREATE ROLE " + ident +
                            " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"
                            " CONNECTION LIMIT 8 IN ROLE zonegate_gateway";
    if (!pg::exec(conn, sql.c_str(), {}, &error)) return failure("creating role " + role + ": " + error);
    out.actions.push_back("created login role " + role + " (member of zonegate_gateway)");
    if (spec.password.empty()) {
      out.actions.push_back("note: role " + role +
                            " has no password; give --password-file, or authenticate it with a client certificate");
    }
  } else {
    if (pg::text(res.get(), 0, 0) == "t") {
      return failure("role " + role + " exists and is privileged (superuser, createrole, createdb, replication, " +
                     "bypassrls, admin or auditor): a gateway must not log in with it");
    }
    if (pg::text(res.get(), 0, 1) != "t") {
      const std::string sql = "GRANT zonegate_gateway TO " + ident;
      if (!pg::exec(conn, sql.c_str(), {}, &error)) return failure(error);
      out.actions.push_back("made role " + role + " a member of zonegate_gateway");
    }
    if (pg::text(res.get(), 0, 2) != "t") {
      const std::string sql = "ALTER ROLE " + ident + " LOGIN";
      if (!pg::exec(conn, sql.c_str(), {}, &error)) return failure(error);
      out.actions.push_back("allowed role " + role + " to log in");
    }
  }
  if (!spec.password.empty()) {
    // The verifier is computed here: the clear password never reaches the server or its logs.
    char* verifier = PQencryptPasswordConn(conn, spec.password.c_str(), role.c_str(), "scram-sha-256");
    if (verifier == nullptr) return failure("cannot compute the password verifier: " + pg::error_text(conn));
    const std::string literal = pg::quote_literal(conn, verifier);
    PQfreemem(verifier);
    const std::string sql = "ALTER ROLE " + ident + " PASSWORD " + literal;
    if (!pg::exec(conn, sql.c_str(), {}, &error)) return failure("setting the password: " + error);
    out.actions.push_back("set the password of role " + role);
  }

  if (!exists) {
    if (!pg::exec(conn,
                  "INSERT INTO zonegate.gateways (gateway_id, site, role_name, public_key_pem) VALUES ($1, $2, $3, $4)",
                  {pg::Param::text(spec.gateway_id), pg::Param::text(spec.site), pg::Param::text(role),
                   spec.public_key_pem.empty() ? pg::Param::null() : pg::Param::text(spec.public_key_pem)},
                  &error)) {
      return failure("registering the gateway: " + error);
    }
    out.actions.push_back("registered gateway " + spec.gateway_id + " (site " + spec.site + ")");
  } else if (!spec.public_key_pem.empty() && spec.public_key_pem != stored_key) {
    if (!pg::exec(conn, "UPDATE zonegate.gateways SET public_key_pem = $2 WHERE gateway_id = $1",
                  {pg::Param::text(spec.gateway_id), pg::Param::text(spec.public_key_pem)}, &error)) {
      return failure(error);
    }
    out.actions.push_back(stored_key.empty() ? "stored the public key of gateway " + spec.gateway_id
                                             : "replaced the public key of gateway " + spec.gateway_id);
  }
  res = pg::exec(conn,
                 "INSERT INTO zonegate.chain_heads (gateway_id) VALUES ($1) ON CONFLICT (gateway_id) DO NOTHING"
                 " RETURNING gateway_id",
                 {pg::Param::text(spec.gateway_id)}, &error);
  if (!res) return failure(error);
  if (PQntuples(res.get()) == 1) out.actions.push_back("created the chain head of gateway " + spec.gateway_id);
  if (!tx.commit(error)) return failure("commit failed: " + error);
  out.ok = true;
  out.message = "gateway " + spec.gateway_id + " (site " + spec.site + ") logs in as role " + role +
                (out.actions.empty() ? ": nothing changed" : "");
  return out;
}

}  // namespace zonegate::adapters::upstream
