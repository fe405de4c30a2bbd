// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the badge import CSV parser (outside bytes from an administrator's file).
// Runs the parser without and with a policy (role names checked) and checks what it promises:
// every row it returns is valid and canonical, errors carry line numbers, nothing crashes.
// Links zonegate_credentials_csv (no SQLite).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "adapters/credentials/credential_csv.hpp"
#include "core/policy.hpp"

namespace {

using zonegate::adapters::credentials::BadgeCsvParser;
using zonegate::adapters::credentials::CsvBadge;

const zonegate::core::Policy& policy() {
  static const zonegate::core::Policy p = [] {
    zonegate::core::Policy q;
    zonegate::core::Zone root;
    root.id = "outside";
    q.zones.push_back(root);
    for (const char* r : {"employee", "dba", "guard"}) {
      zonegate::core::Role role;
      role.id = r;
      role.zones.resize(1);
      role.may_escort.resize(1, false);
      q.roles.push_back(role);
    }
    q.finalize();
    return q;
  }();
  return p;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void run(const std::string& text, const zonegate::core::Policy* p) {
  std::istringstream in(text);
  BadgeCsvParser parser(in, p);
  CsvBadge row;
  std::size_t last_line = 1;
  std::size_t rows = 0;
  while (parser.next(row)) {
    ++rows;
    check(row.line > last_line);  // rows come in order, after the header
    last_line = row.line;
    auto again = zonegate::adapters::credentials::normalize_uid(row.uid);
    check(again.has_value() && *again == row.uid);  // canonical
    check(zonegate::adapters::credentials::valid_person_id(row.person));
    for (const auto& r : row.roles) {
      check(zonegate::adapters::credentials::valid_role_name(r));
      if (p != nullptr) check(p->role_index(r).has_value());
    }
    if (row.valid_from && row.valid_until) check(*row.valid_from <= *row.valid_until);
  }
  check(rows <= parser.rows_seen());
  check(parser.errors().size() <= BadgeCsvParser::kMaxErrors + 1);
  for (const auto& e : parser.errors()) check(e.line >= 1 && !e.reason.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  // As given (the header must come first), and behind a valid header so that rows are reached.
  run(body, nullptr);
  const std::string with_header = std::string(zonegate::adapters::credentials::kCsvHeader) + "\n" + body;
  run(with_header, nullptr);
  run(with_header, &policy());
  return 0;
}
