// SPDX-License-Identifier: Apache-2.0
// The HTTPS transport: TLS only, security headers, size limits, malformed and slow requests, and
// the static assets' path validation.
#include <catch2/catch.hpp>

#include "https_fixture.hpp"

namespace {

using namespace zg_test;

/// Reads whatever arrives on a stream until EOF or an error (at most `limit`).
std::string read_all(net::io_context& ioc, TlsStream& s, std::chrono::milliseconds limit, beast::error_code& last) {
  std::string data;
  std::array<char, 4096> buf{};
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::size_t n = 0;
    last = await(
        ioc,
        [&](auto h) {
          s.async_read_some(net::buffer(buf), [&n, h](beast::error_code ec, std::size_t got) mutable {
            n = got;
            h(ec);
          });
        },
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    data.append(buf.data(), n);
    if (last) break;
  }
  return data;
}

void check_security_headers(const Response& res, bool api) {
  CHECK(res[http::field::strict_transport_security] == "max-age=31536000");
  const std::string csp(res["Content-Security-Policy"]);
  CHECK(csp.find("default-src 'self'") != std::string::npos);
  CHECK(csp.find("script-src 'self';") != std::string::npos);
  CHECK(csp.find("unsafe-inline") == std::string::npos);
  CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
  CHECK(res["X-Content-Type-Options"] == "nosniff");
  CHECK(res["Referrer-Policy"] == "no-referrer");
  if (api) CHECK(res[http::field::cache_control] == "no-store");
}

}  // namespace

TEST_CASE("every response carries the security headers, assets and API alike", "[web][https]") {
  Server server;
  Client client(server);
  const auto index = client.get("/");
  CHECK(index.result() == http::status::ok);
  CHECK(index[http::field::content_type] == "text/html; charset=utf-8");
  CHECK(index.body().find("<title>console</title>") != std::string::npos);
  check_security_headers(index, false);

  const auto js = client.get("/app.js");
  CHECK(js.result() == http::status::ok);
  CHECK(js[http::field::content_type] == "text/javascript; charset=utf-8");
  check_security_headers(js, false);

  const auto missing = client.get("/nope.html");
  CHECK(missing.result() == http::status::not_found);
  check_security_headers(missing, false);

  const auto api = client.get("/api/v1/session");
  CHECK(api.result() == http::status::unauthorized);
  CHECK(body_json(api)["error"] == "session_expired");
  check_security_headers(api, true);
}

TEST_CASE("the generated certificate verifies for localhost and the key is private", "[web][https]") {
  Server server;
  const auto perms = fs::status(server.dir / "console-key.pem").permissions();
  CHECK((perms & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
  Client client(server);
  auto s = client.connect();  // REQUIREs a verified handshake
  CHECK(SSL_version(s->native_handle()) >= TLS1_2_VERSION);
}

TEST_CASE("plain HTTP on the TLS port gets no HTTP answer", "[web][https]") {
  Server server;
  net::io_context ioc;
  net::ip::tcp::socket sock(ioc);
  const net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), server.port);
  REQUIRE(!await(ioc, [&](auto h) { sock.async_connect(ep, h); }));
  const std::string req = "GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n";
  REQUIRE(!await(ioc, [&](auto h) { net::async_write(sock, net::buffer(req), h); }));
  std::string got;
  std::array<char, 1024> buf{};
  for (;;) {
    std::size_t n = 0;
    const auto ec = await(ioc, [&](auto h) {
      sock.async_read_some(net::buffer(buf), [&n, h](beast::error_code e, std::size_t k) mutable {
        n = k;
        h(e);
      });
    });
    got.append(buf.data(), n);
    if (ec) {
      CHECK(ec != beast::error::timeout);  // the server hangs up; it does not keep the socket
      break;
    }
  }
  CHECK(got.rfind("HTTP/", 0) == std::string::npos);
  CHECK(got.find("console") == std::string::npos);
}

TEST_CASE("an oversized body is refused with 413 before it is read", "[web][https]") {
  Server server;
  Client client(server);
  // Only the head is sent: the server must answer on the declared length alone, without waiting
  // for (or reading) 70 KiB.
  auto s = client.connect();
  const std::string head = "POST /api/v1/session HTTP/1.1\r\nHost: " + client.host() +
                           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(70 * 1024) +
                           "\r\n\r\n";
  REQUIRE(!await(client.ioc(), [&](auto h) { net::async_write(*s, net::buffer(head), h); }));
  beast::flat_buffer buf;
  Response res;
  REQUIRE(!await(client.ioc(), [&](auto h) { http::async_read(*s, buf, res, h); }));
  CHECK(res.result() == http::status::payload_too_large);
  CHECK(body_json(res)["error"] == "too_large");
  CHECK(!res.keep_alive());
  check_security_headers(res, true);
  // A chunked body that grows past the limit is cut off the same way.
  auto c = client.connect();
  std::string chunked = "POST /api/v1/session HTTP/1.1\r\nHost: " + client.host() +
                        "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  chunked += "11800\r\n" + std::string(0x11800, 'x');
  (void)await(client.ioc(), [&](auto h) { net::async_write(*c, net::buffer(chunked), h); });
  beast::flat_buffer buf2;
  Response res2;
  const auto ec = await(client.ioc(), [&](auto h) { http::async_read(*c, buf2, res2, h); });
  // The answer is 413, unless the connection was reset under the unread bytes first.
  if (!ec) CHECK(res2.result() == http::status::payload_too_large);
  CHECK(ec != beast::error::timeout);
}

TEST_CASE("a malformed request gets 400", "[web][https]") {
  Server server;
  Client client(server);
  for (const std::string& raw : {std::string("GET / HTTP/1.1\r\nHost localhost\r\n\r\n"),
                                 std::string("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
                                 std::string("G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n")}) {
    auto s = client.connect();
    REQUIRE(!await(client.ioc(), [&](auto h) { net::async_write(*s, net::buffer(raw), h); }));
    beast::flat_buffer buf;
    Response res;
    const auto ec = await(client.ioc(), [&](auto h) { http::async_read(*s, buf, res, h); });
    INFO(raw);
    REQUIRE(!ec);
    CHECK(res.result() == http::status::bad_request);
    CHECK(!res.keep_alive());
  }
  // A target that is not a path (absolute form) is refused too.
  auto s = client.connect();
  http::request<http::string_body> req{http::verb::get, "http://evil.example/index.html", 11};
  CHECK(client.send(*s, req).result() == http::status::bad_request);
}

TEST_CASE("a client that trickles its request is cut off at the request deadline", "[web][https]") {
  Server server;  // request_timeout 800 ms
  Client client(server);
  auto s = client.connect();
  const std::string part = "GET /index.html HTTP/1.1\r\nHo";
  REQUIRE(!await(client.ioc(), [&](auto h) { net::async_write(*s, net::buffer(part), h); }));
  const auto t0 = std::chrono::steady_clock::now();
  beast::error_code ec;
  const std::string got = read_all(client.ioc(), *s, 4000ms, ec);
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(ec);
  CHECK(ec != beast::error::timeout);  // closed by the server, not by our own 4 s limit
  CHECK(waited < 3s);
  CHECK(got.find("200 OK") == std::string::npos);
}

TEST_CASE("keep-alive serves several requests on one connection", "[web][https]") {
  Server server;
  Client client(server);
  auto s = client.connect();
  for (int i = 0; i < 3; ++i) {
    http::request<http::string_body> req{http::verb::get, "/app.js", 11};
    const auto res = client.send(*s, req);
    CHECK(res.result() == http::status::ok);
    CHECK(res.keep_alive());
  }
}

TEST_CASE("path traversal on assets finds nothing outside the assets directory", "[web][https]") {
  Server server;
  Client client(server);
  for (const char* target :
       {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
        "/sounds/../../secret.txt", "/sounds/%2e%2e/%2e%2e/secret.txt", "/..\\secret.txt", "/%5c..%5csecret.txt",
        "//etc/passwd", "/etc/passwd", "/link.txt", "/.hidden", "/./index.html", "/index.html%00.txt",
        "/sounds//alarm.wav", "/sounds/", "/%252e%252e/secret.txt"}) {
    INFO(target);
    auto s = client.connect();
    http::request<http::string_body> req{http::verb::get, target, 11};
    const auto res = client.send(*s, req);
    CHECK(res.result() == http::status::not_found);
    CHECK(res.body().find("TOPSECRET") == std::string::npos);
    CHECK(res.body().find("root:") == std::string::npos);
  }
  // The legitimate nested asset is served.
  const auto wav = client.get("/sounds/alarm.wav");
  CHECK(wav.result() == http::status::ok);
  CHECK(wav[http::field::content_type] == "audio/wav");
}

TEST_CASE("assets answer GET and HEAD only", "[web][https]") {
  Server server;
  Client client(server);
  const auto post = client.request(http::verb::post, "/index.html", "{}");
  CHECK(post.result() == http::status::method_not_allowed);
  CHECK(post[http::field::allow] == "GET, HEAD");
}
