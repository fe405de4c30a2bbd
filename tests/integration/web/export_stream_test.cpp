// SPDX-License-Identifier: Apache-2.0
// Audit exports through the console are streamed from an unnamed temporary file, not built in
// memory: a large export arrives complete and byte-identical to the store's own export while the
// file it is sent from has no name, and a client that stops reading is cut off by the write
// timeout with the file and every descriptor gone.
#include <unistd.h>

#include <array>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include "https_fixture.hpp"

using namespace zg_test;

namespace {

constexpr int kRecords = 50000;

/// Appends `kRecords` decisions at the sample site (on the server's loop, which owns the store).
void fill_trail(Server& server) {
  const core::Policy& p = *server.cfg.policy;
  std::vector<core::Record> batch;
  for (int i = 0; i < kRecords; ++i) {
    core::Decision d;
    d.at = kStart + std::chrono::seconds(i);
    d.request = static_cast<std::uint64_t>(i + 1);
    d.person = "p" + std::to_string(i % 977);
    d.badge = "04A1B2C3D4" + std::to_string(i % 977);
    d.door = 0;
    d.dir = i % 2 == 0 ? core::Direction::in : core::Direction::out;
    d.verdict = i % 5 == 0 ? core::Verdict::deny : core::Verdict::grant;
    d.reason = i % 5 == 0 ? core::Reason::outside_schedule : core::Reason::ok;
    batch.emplace_back(d);
    if (batch.size() == 5000) {
      server.on_loop([&] { REQUIRE(server.audit_store->append(batch, p)); });
      batch.clear();
    }
  }
  server.clock.set(kStart + std::chrono::seconds(kRecords + 60));
}

/// The store's own export of `filter`, written to a file.
fs::path store_export(Server& server, const audit::Filter& filter, bool csv, const std::string& name) {
  const fs::path path = server.dir / name;
  server.on_loop([&] {
    std::ofstream out(path, std::ios::binary);
    auto n = csv ? server.audit_store->export_csv(filter, out) : server.audit_store->export_jsonl(filter, out);
    REQUIRE(n);
    REQUIRE(*n == static_cast<std::uint64_t>(kRecords));
  });
  return path;
}

std::set<std::string> open_fds() {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = fs::read_symlink(e.path(), ec);
    out.insert(e.path().filename().string() + " -> " + (ec ? std::string("?") : target.string()));
  }
  return out;
}

/// Descriptors of files in `dir` that have no name (a spool file).
std::size_t unnamed_files_in(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& fd : open_fds()) {
    if (fd.find(dir.string()) != std::string::npos && fd.find("(deleted)") != std::string::npos) ++n;
  }
  return n;
}

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

struct Streamed {
  beast::error_code error;  ///< of the body read; empty if it arrived whole
  std::uint64_t bytes = 0;
  bool identical = true;  ///< every byte received equals the expected file's byte there
  http::response_header<> header;
};

/// Reads a response through a 64 KiB buffer, comparing it with `expected` as it comes, so that
/// the client itself holds no more than that.
Streamed read_streamed(Client& client, TlsStream& s, const fs::path& expected) {
  Streamed out;
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  out.error = await(client.ioc(), [&](auto h) { http::async_read_header(s, buf, parser, h); });
  if (out.error) return out;
  out.header = parser.get().base();
  std::ifstream want(expected, std::ios::binary);
  std::vector<char> chunk(64 * 1024);
  std::vector<char> ref(chunk.size());
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    auto ec = await(client.ioc(), [&](auto h) { http::async_read(s, buf, parser, h); });
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t n = chunk.size() - parser.get().body().size;
    want.read(ref.data(), static_cast<std::streamsize>(n));
    if (static_cast<std::size_t>(want.gcount()) != n || std::memcmp(ref.data(), chunk.data(), n) != 0) {
      out.identical = false;
    }
    out.bytes += n;
    if (ec) {
      out.error = ec;
      return out;
    }
  }
  // Nothing of the expected file left over.
  if (want.peek() != std::char_traits<char>::eof()) out.identical = false;
  return out;
}

Streamed export_once(Client& client, const std::string& target, const fs::path& expected) {
  auto s = client.connect();
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, client.host());
  req.set(http::field::cookie, client.cookie);
  REQUIRE(!await(client.ioc(), [&](auto h) { http::async_write(*s, req, h); }));
  return read_streamed(client, *s, expected);
}

}  // namespace

TEST_CASE("a large audit export streams complete and byte-identical to the store's export", "[web][export]") {
  Server server;
  fill_trail(server);
  audit::Filter decisions;
  decisions.kind = "decision";
  const fs::path csv = store_export(server, decisions, true, "expected.csv");
  const fs::path jsonl = store_export(server, decisions, false, "expected.jsonl");

  Client auditor(server);
  REQUIRE(auditor.login("auditor1").result() == http::status::ok);

  const Streamed c = export_once(auditor, "/api/v1/audit/export?format=csv&kind=decision", csv);
  INFO(c.error.message());
  REQUIRE(!c.error);
  CHECK(c.header.result() == http::status::ok);
  CHECK(c.header[http::field::content_type] == "text/csv; charset=utf-8");
  CHECK(std::string(c.header[http::field::content_disposition]).rfind("attachment; filename=\"zonegate-audit-", 0) ==
        0);
  CHECK(c.header["X-Record-Count"] == std::to_string(kRecords));
  CHECK(c.header["Content-Security-Policy"].find("default-src 'self'") != beast::string_view::npos);
  CHECK(c.header[http::field::cache_control] == "no-store");
  CHECK(c.header["X-Content-Type-Options"] == "nosniff");
  CHECK(c.header[http::field::content_length] == std::to_string(fs::file_size(csv)));
  CHECK(c.bytes == fs::file_size(csv));
  CHECK(c.identical);

  const Streamed j = export_once(auditor, "/api/v1/audit/export?format=jsonl&kind=decision", jsonl);
  REQUIRE(!j.error);
  CHECK(j.header[http::field::content_type] == "application/x-ndjson");
  CHECK(j.bytes == fs::file_size(jsonl));
  CHECK(j.identical);
  CHECK(server.site->count_records("console:auditor1", "export") == 2);
  // HEAD: the headers of GET, Content-Length included, and no body.
  {
    auto s = auditor.connect();
    http::request<http::string_body> req{http::verb::head, "/api/v1/audit/export?format=csv&kind=decision", 11};
    req.set(http::field::host, auditor.host());
    req.set(http::field::cookie, auditor.cookie);
    REQUIRE(!await(auditor.ioc(), [&](auto h) { http::async_write(*s, req, h); }));
    beast::flat_buffer buf;
    http::response_parser<http::empty_body> head;
    head.skip(true);
    REQUIRE(!await(auditor.ioc(), [&](auto h) { http::async_read(*s, buf, head, h); }));
    CHECK(head.get().result() == http::status::ok);
    CHECK(head.get()[http::field::content_length] == std::to_string(fs::file_size(csv)));
    CHECK(buf.size() == 0);
  }
  // Nothing is left in the state directory, and no spool file stays open (the server lets go of
  // it when its last write completes, which the client may see a moment before).
  CHECK(wait_until([&] { return unnamed_files_in(server.dir) == 0; }, 5s));
  for (const auto& e : fs::directory_iterator(server.dir)) {
    CHECK(e.path().filename().string().rfind("zonegate-spool-", 0) != 0);
  }
}

TEST_CASE("an export to a client that stops reading is cut off by the write timeout; no file or fd remains",
          "[web][export]") {
  Server server;  // write timeout 2 s
  fill_trail(server);
  Client auditor(server);
  REQUIRE(auditor.login("auditor1").result() == http::status::ok);
  const auto server_connections = [&] {
    std::size_t n = 0;
    server.on_loop([&] { n = server.server->connections(); });
    return n;
  };
  // The audit worker opens its reader on first use and keeps it: open it before counting.
  REQUIRE(auditor.get("/api/v1/audit/verify").result() == http::status::ok);
  REQUIRE(wait_until([&] { return server_connections() == 0; }, 5s));  // the login's connection
  const auto before = open_fds();

  // A client with a tiny receive window that reads the headers and then nothing: the kernel's
  // buffers cannot hold the export, so the server's writes stall.
  {
    auto s = std::make_unique<TlsStream>(auditor.ioc(), auditor.ssl());
    auto& sock = beast::get_lowest_layer(*s).socket();
    sock.open(net::ip::tcp::v4());
    sock.set_option(net::socket_base::receive_buffer_size(4096));
    SSL_ctrl(s->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>("localhost"));
    const net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), server.port);
    REQUIRE(!await(auditor.ioc(), [&](auto h) { beast::get_lowest_layer(*s).async_connect(ep, h); }));
    REQUIRE(!await(auditor.ioc(), [&](auto h) { s->async_handshake(net::ssl::stream_base::client, h); }));
    http::request<http::string_body> req{http::verb::get, "/api/v1/audit/export?format=csv", 11};
    req.set(http::field::host, auditor.host());
    req.set(http::field::cookie, auditor.cookie);
    REQUIRE(!await(auditor.ioc(), [&](auto h) { http::async_write(*s, req, h); }));

    // The export is spooled to an unnamed file in the state directory and being sent …
    REQUIRE(wait_until([&] { return unnamed_files_in(server.dir) == 1; }, 20s));
    const auto stalled_at = std::chrono::steady_clock::now();
    // … until the write timeout ends the connection; the file goes with it.
    CHECK(wait_until([&] { return unnamed_files_in(server.dir) == 0; }, 10s));
    CHECK(std::chrono::steady_clock::now() - stalled_at < 8s);

    // What arrived is a truncated body, not a complete export.
    const Streamed got = read_streamed(auditor, *s, server.dir / "absent");
    CHECK(got.error);
    CHECK(got.header.result() == http::status::ok);
    CHECK(got.bytes < std::stoull(std::string(got.header[http::field::content_length])));
    beast::error_code ignored;
    sock.close(ignored);
  }
  CHECK(wait_until([&] { return server_connections() == 0; }, 5s));
  // Every descriptor the export opened is closed again.
  std::set<std::string> after;
  CHECK(wait_until(
      [&] {
        after = open_fds();
        return after.size() <= before.size();
      },
      5s));
  std::string added;
  for (const auto& fd : after) {
    if (!before.count(fd)) added += fd + "; ";
  }
  INFO("descriptors opened and not closed: " << added);
  CHECK(after.size() == before.size());

  // The server still answers.
  CHECK(auditor.get("/api/v1/audit/verify").result() == http::status::ok);
}
