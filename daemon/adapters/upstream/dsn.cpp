// SPDX-License-Identifier: Apache-2.0
#include "adapters/upstream/dsn.hpp"

#include <libpq-fe.h>

#include <memory>

#include "adapters/upstream/libpq_lazy.hpp"

namespace zonegate::adapters::upstream {
namespace {

struct OptionsDeleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
using Options = std::unique_ptr<PQconninfoOption, OptionsDeleter>;

Options parse(std::string_view dsn, std::string& error) {
  if (auto missing = libpq_load_error()) {
    error = *missing;
    return nullptr;
  }
  char* err = nullptr;
  const std::string text(dsn);
  Options opts(PQconninfoParse(text.c_str(), &err));
  if (!opts) {
    error = err != nullptr ? err : "cannot parse the connection string";
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    PQfreemem(err);
  }
  return opts;
}

}  // namespace

std::optional<std::string> check_dsn(std::string_view dsn) {
  std::string error;
  const Options opts = parse(dsn, error);
  if (!opts) return "invalid connection string: " + error;
  for (const PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val != nullptr && std::string_view(o->keyword) == "password") {
      return "the connection string holds a password; put it in a libpq passfile (mode 0600) instead";
    }
  }
  return std::nullopt;
}

std::string redact_dsn(std::string_view dsn) {
  std::string error;
  const Options opts = parse(dsn, error);
  if (!opts) return "<invalid connection string>";
  std::string out;
  for (const PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const std::string_view key(o->keyword);
    const bool shown =
        key == "host" || key == "hostaddr" || key == "port" || key == "dbname" || key == "user" || key == "sslmode";
    if (!out.empty()) out += ' ';
    out += key;
    out += '=';
    out += shown ? std::string(o->val) : std::string("…");
  }
  return out;
}

}  // namespace zonegate::adapters::upstream
