// SPDX-License-Identifier: Apache-2.0
// `zonegate badge` and `zonegate audit` against stores in a temporary state directory.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "zonegate/commands.hpp"

namespace cli = zonegate::cli;

namespace {

struct StateDir {
  std::filesystem::path path;
  StateDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "zg-cli-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~StateDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;
};

struct Run {
  int status = -1;
  std::string out;
  std::string err;
};

const std::string kConfig = std::string(ZONEGATE_SOURCE_DIR) + "/zones.yaml";

Run run(int (*command)(const std::vector<std::string>&, std::ostream&, std::ostream&), std::vector<std::string> args,
        const StateDir& dir, bool with_config = true) {
  args.push_back("--state-dir");
  args.push_back(dir.path.string());
  if (with_config) {
    args.push_back("--config");
    args.push_back(kConfig);
  }
  std::ostringstream out;
  std::ostringstream err;
  Run r;
  r.status = command(args, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("badge add, list, revoke are recorded in the audit trail", "[cli][badge]") {
  StateDir dir;
  auto add = run(cli::run_badge,
                 {"add", "04:a2:2b:c1", "--person", "alice", "--name", "Alice A", "--roles", "db-operator", "--kind",
                  "desfire", "--valid-until", "2030-01-01T00:00"},
                 dir);
  INFO(add.err);
  REQUIRE(add.status == cli::kExitOk);
  CHECK(contains(add.out, "enrolled badge 04A22BC1 for alice (desfire, roles db-operator)"));

  auto list = run(cli::run_badge, {"list"}, dir);
  REQUIRE(list.status == cli::kExitOk);
  CHECK(contains(list.out, "04A22BC1"));
  CHECK(contains(list.out, "Alice A"));
  CHECK(contains(list.out, "active"));
  CHECK(contains(list.out, "2030-01-01T00:00:00+09:00"));  // site local time (Asia/Tokyo)
  CHECK(contains(list.out, "1 badge(s)"));

  auto json_list = run(cli::run_badge, {"list", "--person", "alice", "--json"}, dir);
  REQUIRE(json_list.status == cli::kExitOk);
  CHECK(contains(json_list.out, "\"uid\": \"04A22BC1\""));
  CHECK(contains(json_list.out, "\"kind\": \"desfire\""));

  auto dup = run(cli::run_badge, {"add", "04A22BC1", "--person", "bob", "--roles", "employee"}, dir);
  CHECK(dup.status == cli::kExitFailed);
  CHECK(contains(dup.err, "enrolled already"));

  auto revoke = run(cli::run_badge, {"revoke", "04A22BC1"}, dir);
  REQUIRE(revoke.status == cli::kExitOk);
  CHECK(contains(run(cli::run_badge, {"list"}, dir).out, "revoked"));
  CHECK(run(cli::run_badge, {"revoke", "0BADBEEF"}, dir).status == cli::kExitFailed);

  auto ops = run(cli::run_audit, {"query", "--kind", "operator"}, dir);
  REQUIRE(ops.status == cli::kExitOk);
  CHECK(contains(ops.out, "operator  badge_add  person=unix:"));
  CHECK(contains(ops.out, "badge=04A22BC1"));
  CHECK(contains(ops.out, "operator  badge_revoke  person=unix:"));

  auto verify = run(cli::run_audit, {"verify"}, dir, false);
  INFO(verify.err);
  CHECK(verify.status == cli::kExitOk);
  CHECK(verify.out.rfind("ok", 0) == 0);
}

TEST_CASE("badge add refuses bad input", "[cli][badge]") {
  StateDir dir;
  CHECK(run(cli::run_badge, {"add", "04A22BC1", "--person", "a", "--roles", "nope"}, dir).status == cli::kExitUsage);
  CHECK(run(cli::run_badge, {"add", "xyz", "--person", "a", "--roles", "employee"}, dir).status == cli::kExitUsage);
  CHECK(run(cli::run_badge, {"add", "04A22BC1", "--roles", "employee"}, dir).status == cli::kExitUsage);
  CHECK(run(cli::run_badge, {"add", "04A22BC1", "--person", "a", "--roles", "employee", "--kind", "nfc"}, dir).status ==
        cli::kExitUsage);
  CHECK(run(cli::run_badge, {"add", "04A22BC1", "--person", "a", "--roles", "employee", "--valid-from", "soon"}, dir)
            .status == cli::kExitUsage);
  CHECK(run(cli::run_badge, {"frobnicate"}, dir).status == cli::kExitUsage);
  CHECK(run(cli::run_badge, {"list", "--bogus"}, dir).status == cli::kExitUsage);
  CHECK(run(cli::run_badge, {"list", "--config", "/nonexistent/zones.yaml"}, dir, false).status == cli::kExitFailed);
  // Nothing was enrolled.
  CHECK(contains(run(cli::run_badge, {"list"}, dir).out, "0 badge(s)"));
}

TEST_CASE("badge changes fail closed when the audit trail cannot be written", "[cli][badge]") {
  StateDir dir;
  // A directory where the audit database should be: the trail cannot be opened.
  std::filesystem::create_directory(dir.path / "audit.db");
  auto add = run(cli::run_badge, {"add", "04A22BC1", "--person", "alice", "--roles", "employee"}, dir);
  CHECK(add.status == cli::kExitFailed);
  CHECK(contains(add.err, "refusing the change: the audit trail cannot be written"));
  CHECK(contains(run(cli::run_badge, {"list"}, dir).out, "0 badge(s)"));
  auto exp = run(cli::run_audit, {"export", "--format", "csv"}, dir);
  CHECK(exp.status == cli::kExitFailed);
}

TEST_CASE("badge import is all-or-nothing", "[cli][badge]") {
  StateDir dir;
  const auto bad = dir.path / "bad.csv";
  {
    std::ofstream f(bad);
    f << "uid,person,roles,kind,valid_from,valid_until\n"
         "04A22BC1,alice,db-operator,desfire,,\n"
         "zz,bob,employee,uid,,\n"
         "04B17733,carol,no-such-role,uid,,\n";
  }
  auto r = run(cli::run_badge, {"import", bad.string()}, dir);
  CHECK(r.status == cli::kExitFailed);
  CHECK(contains(r.err, bad.string() + ":3: "));
  CHECK(contains(r.err, bad.string() + ":4: "));
  CHECK(contains(run(cli::run_badge, {"list"}, dir).out, "0 badge(s)"));

  const auto good = dir.path / "good.csv";
  {
    std::ofstream f(good);
    f << "uid,person,roles,kind,valid_from,valid_until\n"
         "04A22BC1,alice,db-operator,desfire,,\n"
         "04B17733,bob,employee,uid,2026-01-01,\n";
  }
  auto ok = run(cli::run_badge, {"import", good.string()}, dir);
  INFO(ok.err);
  CHECK(ok.status == cli::kExitOk);
  CHECK(contains(ok.out, "imported 2 row(s): 2 added, 0 updated"));
  CHECK(contains(run(cli::run_badge, {"list"}, dir).out, "2 badge(s)"));
  CHECK(contains(run(cli::run_audit, {"query", "--kind", "operator"}, dir).out, "badge_import"));
  CHECK(run(cli::run_badge, {"import", (dir.path / "missing.csv").string()}, dir).status == cli::kExitFailed);
}

TEST_CASE("audit tail, query, export and verify", "[cli][audit]") {
  StateDir dir;
  // No trail yet: read-only commands fail without creating one.
  CHECK(run(cli::run_audit, {"verify"}, dir, false).status == cli::kExitFailed);
  CHECK_FALSE(std::filesystem::exists(dir.path / "audit.db"));

  for (const char* uid : {"04000001", "04000002", "04000003"}) {
    REQUIRE(run(cli::run_badge, {"add", uid, "--person", "p1", "--roles", "employee"}, dir).status == cli::kExitOk);
  }
  auto tail = run(cli::run_audit, {"tail", "-n", "2"}, dir);
  REQUIRE(tail.status == cli::kExitOk);
  CHECK(std::count(tail.out.begin(), tail.out.end(), '\n') == 2);
  CHECK(contains(tail.out, "badge=04000003"));
  CHECK_FALSE(contains(tail.out, "badge=04000001"));
  CHECK(run(cli::run_audit, {"tail", "-n", "0"}, dir).status == cli::kExitUsage);

  auto limited = run(cli::run_audit, {"query", "--kind", "operator", "--limit", "1"}, dir);
  CHECK(std::count(limited.out.begin(), limited.out.end(), '\n') == 1);
  CHECK(run(cli::run_audit, {"query", "--decision", "maybe"}, dir).status == cli::kExitUsage);
  CHECK(run(cli::run_audit, {"query", "--reason", "because"}, dir).status == cli::kExitUsage);
  CHECK(run(cli::run_audit, {"query", "--from", "yesterday"}, dir).status == cli::kExitUsage);
  auto future = run(cli::run_audit, {"query", "--from", "2099-01-01T00:00Z"}, dir);
  CHECK(future.status == cli::kExitOk);
  CHECK(future.out.empty());

  const auto csv = dir.path / "out.csv";
  auto exp = run(cli::run_audit, {"export", "--format", "csv", "--kind", "operator", "--out", csv.string()}, dir);
  INFO(exp.err);
  REQUIRE(exp.status == cli::kExitOk);
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  CHECK(header.rfind("seq,", 0) == 0);
  std::stringstream rest;
  rest << in.rdbuf();
  CHECK(contains(rest.str(), "04000002"));
  auto recorded = run(cli::run_audit, {"query", "--kind", "export"}, dir);
  CHECK(contains(recorded.out, "export  export  person=unix:"));
  CHECK(contains(recorded.out, "format=csv kind=operator"));

  auto jsonl = run(cli::run_audit, {"export", "--format", "jsonl", "--kind", "operator"}, dir);
  CHECK(jsonl.status == cli::kExitOk);
  CHECK(jsonl.out.rfind("{", 0) == 0);
  CHECK(run(cli::run_audit, {"export", "--format", "xml"}, dir).status == cli::kExitUsage);
  CHECK(run(cli::run_audit, {"export"}, dir).status == cli::kExitUsage);
  CHECK(run(cli::run_audit, {"verify"}, dir, false).status == cli::kExitOk);
  CHECK(run(cli::run_audit, {"frob"}, dir).status == cli::kExitUsage);
}
