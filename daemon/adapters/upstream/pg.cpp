// SPDX-License-Identifier: Apache-2.0
#include "adapters/upstream/pg.hpp"

#include <algorithm>
#include <charconv>

#include "adapters/upstream/dsn.hpp"

namespace zonegate::adapters::upstream::pg {
namespace {

std::string trimmed(const char* text) {
  std::string s = text != nullptr ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Res exec_impl(PGconn* conn, const char* sql, const std::vector<Param>& params, int result_format, std::string* error) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  values.reserve(params.size());
  for (const Param& p : params) {
    values.push_back(p.kind == Param::Kind::null ? nullptr : p.value.c_str());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.kind == Param::Kind::binary ? 1 : 0);
  }
  Res res(PQexecParams(conn, sql, static_cast<int>(params.size()), nullptr, values.data(), lengths.data(),
                       formats.data(), result_format));
  if (!res) {
    if (error != nullptr) *error = error_text(conn);
    return nullptr;
  }
  switch (PQresultStatus(res.get())) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
      return res;
    default:
      if (error != nullptr) *error = error_text(res.get());
      return nullptr;
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Conn connect(std::string_view dsn, std::chrono::milliseconds timeout, std::string* error) {
  if (auto bad = check_dsn(dsn)) {
    if (error != nullptr) *error = *bad;
    return nullptr;
  }
  // connect_timeout first, the DSN (expanded from dbname) after it: a connect_timeout in the DSN
  // wins. libpq treats values below 2 s as 2 s.
  const auto seconds = std::max<long long>(2, (timeout.count() + 999) / 1000);
  const std::string timeout_text = std::to_string(seconds);
  const std::string dsn_text(dsn);
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {timeout_text.c_str(), dsn_text.c_str(), nullptr};
  Conn conn(PQconnectdbParams(keys, values, 1));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    if (error != nullptr) {
      *error = conn ? error_text(conn.get()) : std::string("out of memory");
      // The error names host and port only; say which server for the operator.
      *error = redact_dsn(dsn) + ": " + *error;
    }
    return nullptr;
  }
  const std::string set_timeout = "SET statement_timeout = " + std::to_string(std::max<long long>(1, timeout.count()));
  std::string e;
  if (!exec(conn.get(), set_timeout.c_str(), {}, &e)) {
    if (error != nullptr) *error = "cannot set statement_timeout: " + e;
    return nullptr;
  }
  return conn;
}

Res exec(PGconn* conn, const char* sql, const std::vector<Param>& params, std::string* error) {
  return exec_impl(conn, sql, params, 0, error);
}

Res exec_binary(PGconn* conn, const char* sql, const std::vector<Param>& params, std::string* error) {
  return exec_impl(conn, sql, params, 1, error);
}

std::string error_text(const PGresult* res) {
  std::string out = trimmed(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
  if (out.empty()) out = trimmed(PQresultErrorMessage(res));
  if (out.empty()) out = std::string("unexpected result status ") + PQresStatus(PQresultStatus(res));
  if (const char* d = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) out += " (" + trimmed(d) + ")";
  if (const char* h = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT)) out += " [hint: " + trimmed(h) + "]";
  return out;
}

std::string error_text(const PGconn* conn) { return trimmed(PQerrorMessage(conn)); }

std::string sqlstate(const PGresult* res) {
  const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  return s != nullptr ? s : "";
}

std::string_view text(const PGresult* r, int row, int col) {
  return {PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col))};
}

std::optional<std::int64_t> int64(const PGresult* r, int row, int col) {
  if (is_null(r, row, col)) return std::nullopt;
  const std::string_view t = text(r, row, col);
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || ptr != t.data() + t.size()) return std::nullopt;
  return v;
}

std::optional<std::vector<std::uint8_t>> bytea(const PGresult* r, int row, int col) {
  if (is_null(r, row, col)) return std::nullopt;
  const std::string_view t = text(r, row, col);
  // bytea_output = hex (the default since PostgreSQL 9.0): "\x" then two hex digits per byte.
  if (t.size() < 2 || t[0] != '\\' || t[1] != 'x' || t.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve((t.size() - 2) / 2);
  for (std::size_t i = 2; i < t.size(); i += 2) {
    const int hi = hex_value(t[i]);
    const int lo = hex_value(t[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return out;
}

std::string quote_ident(PGconn* conn, std::string_view ident) {
  char* q = PQescapeIdentifier(conn, ident.data(), ident.size());
  if (q == nullptr) return {};
  std::string out(q);
  PQfreemem(q);
  return out;
}

std::string quote_literal(PGconn* conn, std::string_view value) {
  char* q = PQescapeLiteral(conn, value.data(), value.size());
  if (q == nullptr) return {};
  std::string out(q);
  PQfreemem(q);
  return out;
}

}  // namespace zonegate::adapters::upstream::pg
