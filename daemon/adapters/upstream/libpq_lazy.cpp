// SPDX-License-Identifier: Apache-2.0
// The libpq functions zonegate uses, loaded from libpq.so.5 on first use instead of at start.
//
// Linking libpq brings in its whole dependency chain (LDAP, GnuTLS, p11-kit, Kerberos, SASL): about
// 3.5 MB of resident memory once their initialisers have run, in every zonegated, even one that
// has no `daemon.upstream` and never connects. Each function below has libpq-fe.h's exact
// signature (the compiler checks it against the header), finds the real one in libpq.so.5 the
// first time it is called, and forwards to it. If the library cannot be loaded, libpq_load_error()
// says why before anything connects; the forwarders then fail the way libpq itself does when it
// is out of memory (a null connection or result), which every caller already handles.
#include "adapters/upstream/libpq_lazy.hpp"

#include <dlfcn.h>
#include <libpq-fe.h>

#include <cstring>
#include <string>

namespace zonegate::adapters::upstream {
namespace {

struct Library {
  void* handle = nullptr;
  std::string error;
};

const Library& library() {
  static const Library lib = [] {
    Library l;
    // RTLD_LOCAL: the symbols stay out of the global namespace, where they would meet these.
    l.handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (l.handle == nullptr) {
      const char* e = dlerror();
      l.error = std::string("cannot load libpq.so.5 (Debian package libpq5): ") + (e != nullptr ? e : "unknown error");
    }
    return l;
  }();
  return lib;
}

template <typename F>
F resolve(const char* name) {
  const Library& lib = library();
  if (lib.handle == nullptr) return nullptr;
  void* symbol = dlsym(lib.handle, name);
  F fn = nullptr;
  static_assert(sizeof fn == sizeof symbol);
  std::memcpy(&fn, &symbol, sizeof fn);  // object to function pointer, as POSIX allows
  return fn;
}

}  // namespace

std::optional<std::string> libpq_load_error() {
  const Library& lib = library();
  if (lib.handle == nullptr) return lib.error;
  return std::nullopt;
}

}  // namespace zonegate::adapters::upstream

using zonegate::adapters::upstream::resolve;

// Forwards NAME(PARAMS) as NAME(ARGS), or returns FALLBACK when libpq is missing.
#define ZG_PQ(ret, name, params, args, fallback)              \
  ret name params {                                           \
    static const auto fn = resolve<decltype(&::name)>(#name); \
    if (fn == nullptr) return fallback;                       \
    return fn args;                                           \
  }
#define ZG_PQ_VOID(name, params, args)                        \
  void name params {                                          \
    static const auto fn = resolve<decltype(&::name)>(#name); \
    if (fn != nullptr) fn args;                               \
  }

extern "C" {
ZG_PQ_VOID(PQclear, (PGresult * res), (res))
ZG_PQ(PostgresPollingStatusType, PQconnectPoll, (PGconn * conn), (conn), PGRES_POLLING_FAILED)
ZG_PQ(PGconn*, PQconnectStartParams, (const char* const* keywords, const char* const* values, int expand_dbname),
      (keywords, values, expand_dbname), nullptr)
ZG_PQ(PGconn*, PQconnectdbParams, (const char* const* keywords, const char* const* values, int expand_dbname),
      (keywords, values, expand_dbname), nullptr)
ZG_PQ_VOID(PQconninfoFree, (PQconninfoOption * options), (options))
ZG_PQ(PQconninfoOption*, PQconninfoParse, (const char* conninfo, char** errmsg), (conninfo, errmsg), nullptr)
ZG_PQ(int, PQconsumeInput, (PGconn * conn), (conn), 0)
ZG_PQ(char*, PQencryptPasswordConn, (PGconn * conn, const char* passwd, const char* user, const char* algorithm),
      (conn, passwd, user, algorithm), nullptr)
ZG_PQ(char*, PQerrorMessage, (const PGconn* conn), (conn), const_cast<char*>("libpq is not available\n"))
ZG_PQ(char*, PQescapeIdentifier, (PGconn * conn, const char* str, size_t len), (conn, str, len), nullptr)
ZG_PQ(char*, PQescapeLiteral, (PGconn * conn, const char* str, size_t len), (conn, str, len), nullptr)
ZG_PQ(PGresult*, PQexec, (PGconn * conn, const char* query), (conn, query), nullptr)
ZG_PQ(PGresult*, PQexecParams,
      (PGconn * conn, const char* command, int nParams, const Oid* paramTypes, const char* const* paramValues,
       const int* paramLengths, const int* paramFormats, int resultFormat),
      (conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat), nullptr)
ZG_PQ_VOID(PQfinish, (PGconn * conn), (conn))
ZG_PQ(int, PQflush, (PGconn * conn), (conn), -1)
ZG_PQ_VOID(PQfreemem, (void* ptr), (ptr))
ZG_PQ(PGresult*, PQgetResult, (PGconn * conn), (conn), nullptr)
ZG_PQ(int, PQgetisnull, (const PGresult* res, int tup_num, int field_num), (res, tup_num, field_num), 1)
ZG_PQ(int, PQgetlength, (const PGresult* res, int tup_num, int field_num), (res, tup_num, field_num), 0)
ZG_PQ(char*, PQgetvalue, (const PGresult* res, int tup_num, int field_num), (res, tup_num, field_num), nullptr)
ZG_PQ(int, PQisBusy, (PGconn * conn), (conn), 0)
ZG_PQ(int, PQnfields, (const PGresult* res), (res), 0)
ZG_PQ(int, PQntuples, (const PGresult* res), (res), 0)
ZG_PQ(int, PQputCopyData, (PGconn * conn, const char* buffer, int nbytes), (conn, buffer, nbytes), -1)
ZG_PQ(int, PQputCopyEnd, (PGconn * conn, const char* errormsg), (conn, errormsg), -1)
ZG_PQ(char*, PQresStatus, (ExecStatusType status), (status), const_cast<char*>("PGRES_FATAL_ERROR"))
ZG_PQ(char*, PQresultErrorField, (const PGresult* res, int fieldcode), (res, fieldcode), nullptr)
ZG_PQ(char*, PQresultErrorMessage, (const PGresult* res), (res), const_cast<char*>(""))
ZG_PQ(ExecStatusType, PQresultStatus, (const PGresult* res), (res), PGRES_FATAL_ERROR)
ZG_PQ(int, PQsendQuery, (PGconn * conn, const char* query), (conn, query), 0)
ZG_PQ(int, PQsendQueryParams,
      (PGconn * conn, const char* command, int nParams, const Oid* paramTypes, const char* const* paramValues,
       const int* paramLengths, const int* paramFormats, int resultFormat),
      (conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat), 0)
ZG_PQ(int, PQserverVersion, (const PGconn* conn), (conn), 0)
ZG_PQ(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn * conn, PQnoticeProcessor proc, void* arg), (conn, proc, arg),
      nullptr)
ZG_PQ(int, PQsetnonblocking, (PGconn * conn, int arg), (conn, arg), -1)
ZG_PQ(int, PQsocket, (const PGconn* conn), (conn), -1)
ZG_PQ(ConnStatusType, PQstatus, (const PGconn* conn), (conn), CONNECTION_BAD)
ZG_PQ(char*, PQcmdTuples, (PGresult * res), (res), const_cast<char*>(""))
ZG_PQ(char*, PQuser, (const PGconn* conn), (conn), nullptr)
}
