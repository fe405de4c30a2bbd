// SPDX-License-Identifier: Apache-2.0
/// @file
/// A throw-away PostgreSQL server for one test: tools/scripts/pg-test-server.sh initdb's it into a
/// fresh /tmp/zgpg.XXXXXX directory and starts it on 127.0.0.1; the destructor stops it
/// (immediate) and removes the directory, also when the test fails. Without the PostgreSQL server
/// binaries the test FAILS with a message saying so: a test that silently passes without its
/// database would hide a broken CI image.
///
/// `PgServer(PgServer::Tls{"role"})` starts it with `--tls`: TCP connections need TLS, the role
/// `client_cn` logs in with the client certificate in dir()/tls, every other role by password.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#ifndef ZONEGATE_SOURCE_DIR
#error "ZONEGATE_SOURCE_DIR must name the source tree (a compile definition of upstream_tests)"
#endif

namespace zonegate::testing {

class PgServer {
 public:
  /// Asks for a TLS-only server (pg-test-server.sh start --tls --client-cn ROLE).
  struct Tls {
    std::string client_cn = "zg_super";
  };

  PgServer() : PgServer(std::string()) {}
  explicit PgServer(const Tls& tls) : PgServer("--tls --client-cn " + tls.client_cn) { tls_ = true; }

  /// `start_options` are passed to the script's start command after the directory.
  explicit PgServer(const std::string& start_options) {
    char pattern[] = "/tmp/zgpg.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp /tmp/zgpg.XXXXXX failed");
    dir_ = pattern;
    std::string output;
    // A random port may be taken by another server on a shared machine: try a few.
    int status = -1;
    for (int attempt = 0; attempt < 4 && status != 0; ++attempt) {
      status = script("start", start_options, output);
      if (status == 2 && output.find("binaries not found") != std::string::npos) break;
    }
    if (status != 0) {
      const std::string log = read_file(dir_ / "server.log");
      remove_dir();
      FAIL("cannot start the test PostgreSQL server (tools/scripts/pg-test-server.sh start): "
           << output << (log.empty() ? "" : "\nserver.log:\n" + log)
           << "\nThe upstream tests need the PostgreSQL 15 server binaries: apt-get install postgresql-15");
    }
    dsn_ = trim(output);
    port_ = std::stoi(trim(read_file(dir_ / "port")));
  }

  ~PgServer() {
    std::string ignored;
    if (running_) script("stop", "immediate", ignored);
    remove_dir();
  }

  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  /// The superuser (zg_super) DSN, with passfile=; database `zonegate`.
  [[nodiscard]] const std::string& dsn() const { return dsn_; }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
  [[nodiscard]] bool running() const { return running_; }
  /// With Tls: the throw-away CA, and the client certificate and key (CN = Tls::client_cn).
  [[nodiscard]] std::filesystem::path ca_file() const { return dir_ / "tls" / "ca.pem"; }
  [[nodiscard]] std::filesystem::path client_cert() const { return dir_ / "tls" / "client.pem"; }
  [[nodiscard]] std::filesystem::path client_key() const { return dir_ / "tls" / "client.key"; }

  /// Stops the server: "fast" (clean), "immediate" (like a crash: no checkpoint, recovery on start).
  void stop(const std::string& mode = "fast") {
    std::string output;
    if (script("stop", mode, output) != 0) FAIL("pg-test-server.sh stop failed: " << output);
    running_ = false;
  }

  /// Starts the server again on the same port.
  void start() {
    std::string output;
    if (script("start", std::to_string(port_), output) != 0) FAIL("pg-test-server.sh start failed: " << output);
    running_ = true;
  }

  /// A DSN logging in as `role` with `password`, through a passfile written into the server's
  /// directory (mode 0600). Over TLS (verify-full against ca_file()) when the server is a Tls one.
  std::string role_dsn(const std::string& role, const std::string& password) const {
    const std::filesystem::path passfile = dir_ / ("pgpass." + role);
    {
      std::ofstream out(passfile, std::ios::trunc);
      out << "127.0.0.1:" << port_ << ":*:" << role << ':' << password << '\n';
    }
    ::chmod(passfile.c_str(), 0600);
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=zonegate user=" + role +
           " passfile=" + passfile.string() +
           (tls_ ? " sslmode=verify-full sslrootcert=" + ca_file().string() : std::string(" sslmode=disable"));
  }

 private:
  int script(const std::string& command, const std::string& extra, std::string& output) {
    const std::string script_path = std::string(ZONEGATE_SOURCE_DIR) + "/tools/scripts/pg-test-server.sh";
    const std::string cmd = "bash '" + script_path + "' " + command + " '" + dir_.string() + "' " + extra + " 2>&1";
    output.clear();
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (pipe == nullptr) return -1;
    char buf[512];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
    const int status = ::pclose(pipe);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (command == "start" && code == 0) running_ = true;
    return code;
  }

  void remove_dir() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  static std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  static std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    const auto nl = s.rfind('\n');  // the DSN is the script's last line
    return nl == std::string::npos ? s : s.substr(nl + 1);
  }

  std::filesystem::path dir_;
  std::string dsn_;
  int port_ = 0;
  bool running_ = false;
  bool tls_ = false;
};

}  // namespace zonegate::testing
