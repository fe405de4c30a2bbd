// SPDX-License-Identifier: Apache-2.0
/// @file
/// Small RAII helpers around libpq, shared by the central-database administration (central_admin),
/// `zonegate audit verify --upstream` and the sync client. Blocking calls only; the sync client
/// drives its connection non-blocking itself and uses these for ownership and parameter passing.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zonegate::adapters::upstream::pg {

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
/// Owns a connection (PQfinish on destruction).
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
/// Owns a result (PQclear on destruction).
using Res = std::unique_ptr<PGresult, ResultDeleter>;

/// Connects (blocking) with `dsn`, which must pass check_dsn(). `timeout` becomes libpq's
/// connect_timeout (whole seconds, at least 2) and the session's statement_timeout, so that no
/// call on the connection waits forever. Returns nullptr and sets *error on failure; the error
/// text never contains the password.
Conn connect(std::string_view dsn, std::chrono::milliseconds timeout, std::string* error);

/// One query parameter: text, or binary bytes (bytea), or SQL NULL.
struct Param {
  enum class Kind : std::uint8_t { null, text, binary } kind = Kind::null;
  std::string value;
  static Param null() { return {}; }
  static Param text(std::string v) { return {Kind::text, std::move(v)}; }
  static Param binary(std::span<const std::uint8_t> bytes) {
    return {Kind::binary, std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size())};
  }
  static Param integer(std::int64_t v) { return {Kind::text, std::to_string(v)}; }
};

/// Runs `sql` with `params` ($1, $2 …) and text results. Returns the result, or nullptr with
/// *error set when the command failed (status other than COMMAND_OK / TUPLES_OK / COPY_*).
Res exec(PGconn* conn, const char* sql, const std::vector<Param>& params = {}, std::string* error = nullptr);
/// Same, results in binary format (bytea as raw bytes, int8 as 8 big-endian bytes).
Res exec_binary(PGconn* conn, const char* sql, const std::vector<Param>& params = {}, std::string* error = nullptr);

/// The error text of a failed result (primary message, plus detail/hint when present), trimmed.
std::string error_text(const PGresult* res);
/// PQerrorMessage of the connection, trimmed.
std::string error_text(const PGconn* conn);
/// The SQLSTATE of a failed result ("" if none).
std::string sqlstate(const PGresult* res);

/// Field accessors for text results.
[[nodiscard]] inline bool is_null(const PGresult* r, int row, int col) { return PQgetisnull(r, row, col) != 0; }
[[nodiscard]] std::string_view text(const PGresult* r, int row, int col);
/// An int8/int4 column in a text result; nullopt for NULL or garbage.
[[nodiscard]] std::optional<std::int64_t> int64(const PGresult* r, int row, int col);
/// A bytea column of a *text* result (hex format `\x…`), decoded; nullopt for NULL or garbage.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> bytea(const PGresult* r, int row, int col);

/// A quoted SQL identifier (PQescapeIdentifier); "" if libpq refuses it.
std::string quote_ident(PGconn* conn, std::string_view ident);
/// A quoted SQL literal (PQescapeLiteral); "" if libpq refuses it.
std::string quote_literal(PGconn* conn, std::string_view value);

}  // namespace zonegate::adapters::upstream::pg
