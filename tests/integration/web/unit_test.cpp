// SPDX-License-Identifier: Apache-2.0
// The pieces without sockets: asset path resolution, query and time parsing, the SVG charts.
#include <catch2/catch.hpp>

#include "adapters/web/api.hpp"
#include "adapters/web/charts.hpp"
#include "adapters/web/static_files.hpp"
#include "https_fixture.hpp"

using namespace zg_test;

TEST_CASE("resolve_asset maps only plain names inside the root", "[web][assets]") {
  const fs::path dir = make_temp_dir();
  fs::create_directories(dir / "root" / "sub");
  fs::create_directories(dir / "root-evil");
  write_file(dir / "root" / "index.html", "i");
  write_file(dir / "root" / "sub" / "a.css", "a");
  write_file(dir / "root" / "data.bin", "b");
  write_file(dir / "root-evil" / "x.html", "x");
  fs::create_symlink(dir / "root-evil" / "x.html", dir / "root" / "escape.html");
  const fs::path root = fs::canonical(dir / "root");

  const auto index = web::resolve_asset(root, "/");
  REQUIRE(index);
  CHECK(index->file == root / "index.html");
  CHECK(index->mime == "text/html; charset=utf-8");
  const auto css = web::resolve_asset(root, "/sub/a.css?v=3");
  REQUIRE(css);
  CHECK(css->mime == "text/css; charset=utf-8");
  CHECK(web::resolve_asset(root, "/sub/%61.css"));  // a harmless escape is fine

  for (const char* t : {"/data.bin", "/escape.html", "/../root-evil/x.html", "/sub/../index.html", "/%2e%2e/x",
                        "/sub%2fa.css", "/sub/a.css/", "relative.html", "", "/a b.html", "/sub/.a.css", "/%"}) {
    INFO(t);
    CHECK(!web::resolve_asset(root, t));
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST_CASE("query strings and instants are parsed strictly", "[web][parse]") {
  const auto q = web::parse_query("a=1&b=x%20y+z&c=");
  REQUIRE(q);
  CHECK(q->at("a") == "1");
  CHECK(q->at("b") == "x y z");
  CHECK(q->at("c").empty());
  CHECK(!web::parse_query("a=1&a=2"));
  CHECK(!web::parse_query("a=%zz"));
  CHECK(!web::parse_query("a=%2"));

  CHECK(web::parse_instant("2026-12-01T09:00:00Z") == kStart + 8h);
  CHECK(web::parse_instant("2026-12-01T18:00:00+09:00") == kStart + 8h);
  CHECK(!web::parse_instant("2026-12-01"));
  CHECK(!web::parse_instant("2026-12-01T09:00:00"));  // no offset: ambiguous
  CHECK(!web::parse_instant("yesterday"));
}

TEST_CASE("charts are well-formed SVG with escaped labels", "[web][charts]") {
  CHECK(web::nice_step(7, 5) == 2);
  CHECK(web::nice_step(100, 5) == 20);
  CHECK(web::nice_step(1, 5) == 1);
  const std::string line =
      web::hourly_chart_svg("Entries <test>", kStart, {{"lab<script>", {1, 2, 3}}, {"office", {0, 0, 5}}});
  CHECK(line.rfind("<svg", 0) == 0);
  CHECK(line.find("</svg>") != std::string::npos);
  CHECK(line.find("<script>") == std::string::npos);
  CHECK(line.find("lab&lt;script&gt; (6)") != std::string::npos);
  CHECK(line.find("office (5)") != std::string::npos);
  CHECK(line.find("Entries &lt;test&gt;") != std::string::npos);
  const std::string bars = web::bar_chart_svg("Denials", {{"revoked", 4}, {"expired", 2}});
  CHECK(bars.find("revoked: 4") != std::string::npos);
  CHECK(bars.find("expired: 2") != std::string::npos);
  CHECK(web::bar_chart_svg("Denials", {}).find("no denials") != std::string::npos);
}
