// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the console's request handling, from raw HTTP/1.1 bytes to the response.
//
// The input is one mode byte and then the bytes a client would send after the TLS handshake. They
// go through a Beast request_parser with the server's limits (ServerLimits' defaults, as
// https_server.cpp configures its parser), in chunks whose size the mode byte picks, up to four
// pipelined requests, then where HttpSession::on_read sends them: /api/... to a real Api (real
// audit trail, credential and operator stores in a temporary directory, a fake live site, a manual
// clock), /api/v1/live to the WebSocket admission check, everything else to the static-file
// resolver over an assets directory with traps (hidden file, symlinks out, a sibling directory).
//
// Mode byte: bits 0-1 the session (guard, auditor, admin, none), bits 2-3 the CSRF token (the
// session's own, another session's, none, or whatever the input says), bits 4-6 the read chunk
// size, bit 7 moves the clock past the idle timeout first. In the request bytes "@S@" and "@C@" are
// replaced by the chosen session's id and CSRF token, so the fuzzer can place them anywhere (in a
// cookie list, a header, a body); otherwise the Cookie header is set to the chosen session.
//
// Checked on every response: exactly one; a status the contract knows; no CR/LF in a header value;
// the body is what its Content-Type says (JSON with error/message for errors, SVG only from the
// chart routes, CSV/JSONL only from export); a 2xx on a state-changing route (login aside) only
// with the cookie's own CSRF token; a 2xx only for a role the contract allows; every "forbidden"
// writes an audit record; an asset is one of the page's files, never the secret outside.
//
// Logins happen at start-up (and again when the fuzzer logged a session out, disabled its operator
// or let it expire); the operator store uses the cheapest scrypt it accepts, so the fuzzer's own
// logins and new operators cost little. The state directory lives on /dev/shm when there is one
// (the audit trail fsyncs every record) and is replaced every few thousand inputs so that the audit
// trail and the badge list stay small.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "adapters/web/api.hpp"
#include "adapters/web/https_server.hpp"
#include "adapters/web/operator_store.hpp"
#include "adapters/web/roles.hpp"
#include "adapters/web/site_backend.hpp"
#include "adapters/web/static_files.hpp"
#include "config/loader.hpp"
#include "ports/clock.hpp"

namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace web = zonegate::adapters::web;
namespace audit = zonegate::adapters::audit;
namespace credentials = zonegate::adapters::credentials;
namespace core = zonegate::core;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kPassword = "Night-shift-2026-pass";
constexpr const char* kSecret = "TOPSECRET-outside-the-assets";
constexpr std::array<const char*, 3> kOperators{"guard1", "auditor1", "admin1"};
constexpr std::array<web::Role, 3> kRoles{web::Role::guard, web::Role::auditor, web::Role::admin};
constexpr std::size_t kMaxRequestsPerInput = 4;
constexpr std::uint64_t kInputsPerWorld = 4096;
constexpr audit::Seq kMaxAuditRecords = 20000;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_console_request: invariant broken: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) fail(what, detail);
}

class ManualClock final : public zonegate::ports::Clock {
 public:
  [[nodiscard]] core::Instant now() const override { return now_; }
  void advance(core::Duration d) { now_ += d; }

 private:
  core::Instant now_ = core::Instant{std::chrono::sys_days{std::chrono::year{2026} / 12 / 1}} + 9h;
};

/// The live site: three alarms (reset before every input), one door set from the policy, every
/// record appended to the real audit trail and counted.
class FuzzSite final : public web::SiteBackend {
 public:
  FuzzSite(const core::Policy& policy, audit::AuditStore& store, const ManualClock& clock)
      : policy_(policy), store_(store), clock_(clock) {
    reset();
  }

  void reset() {
    alarms_ = json::array();
    for (std::uint64_t id = 1; id <= 3; ++id) {
      alarms_.push_back(json{{"id", id},
                             {"kind", "forced_door"},
                             {"severity", "critical"},
                             {"source", "lobby"},
                             {"person", ""},
                             {"detail", ""},
                             {"at", core::format_utc(clock_.now())},
                             {"acknowledged", id == 3},
                             {"ack_by", ""},
                             {"ack_note", ""}});
    }
  }

  json alarms() const override { return json{{"alarms", alarms_}}; }
  json doors() const override {
    json doors = json::array();
    for (const auto& d : policy_.doors) {
      doors.push_back(json{{"id", d.id},
                           {"name", d.id},
                           {"state", "closed"},
                           {"locked", true},
                           {"lockdown", false},
                           {"held", json::array()}});
    }
    return json{{"doors", std::move(doors)}, {"fire", false}};
  }
  json occupancy() const override { return json{{"zones", json::array()}, {"outside", json::array()}}; }
  const core::Policy& policy() const override { return policy_; }

  web::SiteResult acknowledge(std::uint64_t id, const std::string& actor, const std::string& note) override {
    for (auto& a : alarms_) {
      if (a["id"] != id) continue;
      if (a["acknowledged"].get<bool>()) return web::SiteResult::fail(409, "conflict", "acknowledged already");
      a["acknowledged"] = true;
      a["ack_by"] = actor;
      a["ack_note"] = note;
      return web::SiteResult::ok(json{{"alarm", a}});
    }
    return web::SiteResult::fail(404, "not_found", "no such alarm");
  }
  web::SiteResult unlock(const std::string& door, const std::string&, const std::string&) override {
    if (!policy_.door_index(door)) return web::SiteResult::fail(404, "not_found", "no such door");
    return web::SiteResult::ok();
  }
  web::SiteResult release(const std::string& door, const std::optional<std::string>&, const std::string&,
                          const std::string&) override {
    if (!policy_.door_index(door)) return web::SiteResult::fail(404, "not_found", "no such door");
    return web::SiteResult::ok();
  }
  web::SiteResult lockdown(bool, const std::optional<std::string>& zone, const std::string&,
                           const std::string&) override {
    if (zone && !policy_.zone_index(*zone)) return web::SiteResult::fail(404, "not_found", "no such zone");
    return web::SiteResult::ok();
  }
  void record(web::AuditKind kind, const std::string& actor, const std::string& event, const std::string& detail,
              const std::string& person, const std::string& badge) override {
    const audit::Entry e{
        clock_.now(),
        kind == web::AuditKind::export_ ? audit::EntryKind::export_ : audit::EntryKind::operator_action,
        event,
        actor,
        badge,
        {},
        {},
        "console",
        person.empty() ? detail : "person " + person + ": " + detail};
    check(static_cast<bool>(store_.append_entries(std::span<const audit::Entry>(&e, 1))), "audit append failed");
    ++records;
    if (event == "denied") ++denials;
  }
  bool audit_writable() const override { return true; }

  std::uint64_t records = 0;
  std::uint64_t denials = 0;

 private:
  const core::Policy& policy_;
  audit::AuditStore& store_;
  const ManualClock& clock_;
  json alarms_;
};

const core::Policy& site_policy() {
  static const std::shared_ptr<const core::Policy> policy = [] {
    auto loaded = zonegate::config::load_policy_file(std::string(ZONEGATE_SOURCE_DIR) + "/zones.yaml");
    if (!loaded.ok()) fail("cannot load zones.yaml from", ZONEGATE_SOURCE_DIR);
    return loaded.policy;
  }();
  return *policy;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  check(static_cast<bool>(out), "cannot write", p.string());
}

struct Login {
  std::string session;  ///< the zg_session cookie value
  std::string csrf;
};

/// One state directory with its stores, the Api over them and a logged-in session per role.
struct World {
  fs::path dir;
  fs::path assets;                    ///< canonical
  std::vector<fs::path> asset_files;  ///< canonical paths of every file the resolver may return
  ManualClock clock;
  std::unique_ptr<audit::AuditStore> audit;
  std::unique_ptr<credentials::CredentialStore> creds;
  std::unique_ptr<web::OperatorStore> operators;  ///< a second handle: re-enables the harness's operators
  std::unique_ptr<FuzzSite> site;
  net::io_context io;
  std::unique_ptr<web::Api> api;
  std::array<Login, 3> logins;
  std::uint64_t inputs = 0;

  World();
  ~World() {
    if (api) api->stop();
    api.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;
};

fs::path temp_base() {
  // The audit trail fsyncs every record: on tmpfs that costs nothing.
  if (::access("/dev/shm", W_OK) == 0) return "/dev/shm";
  return fs::temp_directory_path();
}

/// Runs the loop until `done` or 5 s (a stuck request is a bug), then the handlers ready by then.
template <typename Done>
void run_until(World& w, Done done, const char* what) {
  w.io.restart();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!done()) {
    check(std::chrono::steady_clock::now() < deadline, "no response within 5 s to", what);
    w.io.run_one_for(10ms);
  }
  w.io.restart();
  w.io.poll();
}

/// A socket that keeps what is written to it.
class StringSink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}

  template <typename ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, beast::error_code& ec) {
    ec = {};
    const std::size_t n = net::buffer_size(buffers);
    const std::size_t old = out_.size();
    out_.resize(old + n);
    return net::buffer_copy(net::buffer(out_.data() + old, n), buffers);
  }
  template <typename ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    beast::error_code ec;
    return write_some(buffers, ec);
  }

 private:
  std::string& out_;
};

/// The bytes the server would write for a response, through the serialiser it uses.
template <typename Body>
std::string serialise(http::response<Body>& res) {
  std::string out;
  StringSink sink(out);
  http::response_serializer<Body> sr(res);
  beast::error_code ec;
  http::write(sink, sr, ec);
  check(!ec, "a response that does not serialise", ec.message());
  return out;
}

/// An answer with its body in memory: an export's spool file is read back through the serialiser
/// the server sends it with.
web::Response in_memory(web::ApiResponse answer) {
  if (auto* res = std::get_if<web::Response>(&answer)) return std::move(*res);
  auto& file = std::get<web::FileResponse>(answer);
  file.prepare_payload();
  const std::string text = serialise(file);
  const auto end = text.find("\r\n\r\n");
  check(end != std::string::npos, "a file response without a header end");
  web::Response res;
  res.base() = file.base();
  res.body() = text.substr(end + 4);
  check(res.body().size() == file.body().size(), "a file response whose body is not its file");
  return res;
}

/// Hands a request to the Api and waits for its answer; checks there is exactly one.
web::Response call_api(World& w, web::Request req) {
  auto answers = std::make_shared<std::vector<web::ApiResponse>>();
  const std::string target(req.target());
  w.api->handle(std::move(req), "192.0.2.7", [answers](web::ApiResponse res) { answers->push_back(std::move(res)); });
  run_until(
      w, [&] { return !answers->empty(); }, target.c_str());
  check(answers->size() == 1, "more than one response to", target);
  return in_memory(std::move(answers->front()));
}

std::optional<Login> log_in(World& w, const char* name) {
  web::Request req{http::verb::post, "/api/v1/session", 11};
  req.set(http::field::content_type, "application/json");
  req.body() = json{{"name", name}, {"password", kPassword}}.dump();
  req.prepare_payload();
  const web::Response res = call_api(w, std::move(req));
  if (res.result() != http::status::ok) return std::nullopt;
  const std::string cookie(res[http::field::set_cookie]);
  const std::string prefix = std::string(web::kSessionCookie) + "=";
  if (cookie.rfind(prefix, 0) != 0) return std::nullopt;
  const json body = json::parse(res.body(), nullptr, false);
  if (!body.is_object() || !body.contains("csrf") || !body["csrf"].is_string()) return std::nullopt;
  return Login{cookie.substr(prefix.size(), cookie.find(';') - prefix.size()), body["csrf"].get<std::string>()};
}

bool session_alive(World& w, std::size_t role) {
  web::Request req{http::verb::get, "/api/v1/session", 11};
  req.set(http::field::cookie, std::string(web::kSessionCookie) + "=" + w.logins[role].session);
  const web::Response res = call_api(w, std::move(req));
  if (res.result() != http::status::ok) return false;
  const json body = json::parse(res.body(), nullptr, false);
  return body.is_object() && body.value("operator", "") == kOperators[role] &&
         body.value("role", "") == web::to_string(kRoles[role]);
}

/// Brings back a session per role: the fuzzer may have logged one out, disabled or locked its
/// operator, evicted it with logins of its own, or let it expire.
void restore_sessions(World& w) {
  for (std::size_t r = 0; r < kOperators.size(); ++r) {
    if (!w.logins[r].session.empty() && session_alive(w, r)) continue;
    check(static_cast<bool>(w.operators->enable(kOperators[r], w.clock.now())), "cannot re-enable", kOperators[r]);
    auto login = log_in(w, kOperators[r]);
    check(login.has_value(), "harness login failed for", kOperators[r]);
    w.logins[r] = std::move(*login);
  }
}

World::World() {
  std::string tmpl = (temp_base() / "zg-fuzz-console-XXXXXX").string();
  check(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
  dir = tmpl;

  // The page's files, and traps around them: a hidden file, a symlink to a file outside, a symlink
  // to the directory above, a sibling directory whose name extends the root's.
  const fs::path root = dir / "assets";
  fs::create_directories(root / "sounds");
  fs::create_directories(dir / "assets-evil");
  write_file(root / "index.html", "<!doctype html><title>console</title>");
  write_file(root / "app.js", "export const ok = 1;\n");
  write_file(root / "app.css", "body{margin:0}\n");
  write_file(root / "favicon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
  write_file(root / "sounds" / "alarm.wav", "RIFF");
  write_file(root / ".hidden.txt", kSecret);
  write_file(root / "noext", kSecret);
  write_file(root / "script.sh", kSecret);
  write_file(dir / "secret.txt", kSecret);
  write_file(dir / "assets-evil" / "x.txt", kSecret);
  fs::create_symlink(dir / "secret.txt", root / "link.txt");
  fs::create_symlink(dir, root / "up");
  fs::create_symlink(dir / "assets-evil", root / "evil");
  fs::create_symlink(root / "app.css", root / "inner.css");  // inside: allowed, resolves to app.css
  assets = fs::canonical(root);
  for (const char* f : {"index.html", "app.js", "app.css", "favicon.svg", "sounds/alarm.wav"}) {
    asset_files.push_back(assets / f);
  }

  audit::Options ao;
  ao.state_dir = dir;
  ao.gateway_id = "gw-fuzz";
  auto a = audit::AuditStore::open(ao);
  check(static_cast<bool>(a), "cannot open the audit trail");
  audit = std::move(*a);

  auto c = credentials::CredentialStore::open(dir / "credentials.db");
  check(static_cast<bool>(c), "cannot open the credential store");
  creds = std::move(*c);
  credentials::Person p;
  p.id = "p1";
  p.name = "Pat";
  p.roles = {"employee"};
  check(static_cast<bool>(creds->put_person(p, clock.now())), "put_person");
  credentials::Badge b;
  b.uid = "04A1B2C3";
  b.person = "p1";
  check(static_cast<bool>(creds->add(b, clock.now())), "add badge");

  web::OperatorStoreOptions oo;
  oo.kdf.log2_n = 10;  // the cheapest the store accepts: logins are not what is fuzzed here
  oo.kdf.r = 1;
  oo.kdf.p = 1;
  auto o = web::OperatorStore::open(dir / web::kOperatorDbFile, oo);
  check(static_cast<bool>(o), "cannot open the operator store");
  for (std::size_t r = 0; r < kOperators.size(); ++r) {
    check(static_cast<bool>((*o)->add(kOperators[r], kRoles[r], kPassword, clock.now())), "add operator");
  }
  auto second = web::OperatorStore::open(dir / web::kOperatorDbFile, oo);
  check(static_cast<bool>(second), "cannot open the operator store twice");
  operators = std::move(*second);

  site = std::make_unique<FuzzSite>(site_policy(), *audit, clock);
  web::ApiOptions options;
  options.open_audit_reader = [d = dir]() {
    audit::Options ro;
    ro.state_dir = d;
    ro.gateway_id = "gw-fuzz";
    ro.read_only = true;
    return audit::AuditStore::open(ro);
  };
  api = std::make_unique<web::Api>(io, clock, *site, *audit, *creds, std::move(*o), options);
  restore_sessions(*this);
}

std::unique_ptr<World>& world_slot() {
  static std::unique_ptr<World> w;
  return w;
}

World& world() {
  site_policy();  // first, so that it outlives the world at exit
  auto& w = world_slot();
  if (w && (w->inputs >= kInputsPerWorld || w->audit->last_seq() > kMaxAuditRecords)) w.reset();
  if (!w) w = std::make_unique<World>();
  ++w->inputs;
  return *w;
}

/// The request bytes in chunks of a chosen size, then end of stream: the socket as Beast reads it.
class ChunkedSource {
 public:
  ChunkedSource(std::string_view data, std::size_t chunk) : data_(data), chunk_(chunk) {}

  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, beast::error_code& ec) {
    if (pos_ == data_.size()) {
      ec = net::error::eof;
      return 0;
    }
    ec = {};
    const std::size_t n =
        net::buffer_copy(buffers, net::buffer(data_.data() + pos_, std::min(chunk_, data_.size() - pos_)));
    pos_ += n;
    return n;
  }
  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    beast::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  std::string_view data_;
  std::size_t chunk_;
  std::size_t pos_ = 0;
};

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
}

std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      return std::nullopt;
    }
    out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
    i += 2;
  }
  return out;
}

/// The decoded segments below /api/v1/ (an encoded '/' stays inside its segment); empty if the
/// path is not under /api/v1/ or does not decode.
std::vector<std::string> api_segments(std::string_view path) {
  constexpr std::string_view kPrefix = "/api/v1/";
  std::vector<std::string> out;
  if (path.substr(0, kPrefix.size()) != kPrefix) return out;
  std::string_view rest = path.substr(kPrefix.size());
  for (;;) {
    const auto slash = rest.find('/');
    auto seg = percent_decode(rest.substr(0, slash));
    if (!seg) return {};
    out.push_back(std::move(*seg));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  return out;
}

/// The routes of the console contract (helper-notes/console-contract.md) and the action each needs:
/// the oracle for "a 2xx only for a role that may".
struct ContractRoute {
  http::verb method;
  std::array<const char*, 3> pattern;  ///< "*": any one segment
  web::Action action;
};
constexpr std::array<ContractRoute, 23> kContract{{
    {http::verb::get, {"alarms"}, web::Action::view_alarms},
    {http::verb::post, {"alarms", "*", "ack"}, web::Action::ack_alarm},
    {http::verb::get, {"doors"}, web::Action::view_doors},
    {http::verb::post, {"doors", "*", "unlock"}, web::Action::unlock_door},
    {http::verb::post, {"held", "release"}, web::Action::release_held},
    {http::verb::post, {"lockdown"}, web::Action::lockdown},
    {http::verb::post, {"lockdown", "lift"}, web::Action::lift_lockdown},
    {http::verb::get, {"occupancy"}, web::Action::view_occupancy},
    {http::verb::get, {"audit"}, web::Action::view_audit},
    {http::verb::get, {"audit", "export"}, web::Action::export_audit},
    {http::verb::get, {"audit", "verify"}, web::Action::verify_audit},
    {http::verb::get, {"stats", "entries.svg"}, web::Action::view_audit},
    {http::verb::get, {"stats", "denials.svg"}, web::Action::view_audit},
    {http::verb::get, {"people"}, web::Action::view_people},
    {http::verb::post, {"people"}, web::Action::manage_people},
    {http::verb::get, {"badges"}, web::Action::view_people},
    {http::verb::post, {"badges"}, web::Action::manage_badges},
    {http::verb::post, {"badges", "*", "revoke"}, web::Action::manage_badges},
    {http::verb::patch, {"badges", "*"}, web::Action::manage_badges},
    {http::verb::get, {"operators"}, web::Action::manage_operators},
    {http::verb::post, {"operators"}, web::Action::manage_operators},
    {http::verb::post, {"operators", "*", "disable"}, web::Action::manage_operators},
    {http::verb::post, {"operators", "*", "enable"}, web::Action::manage_operators},
}};

const ContractRoute* contract_route(http::verb method, const std::vector<std::string>& segments) {
  const http::verb m = method == http::verb::head ? http::verb::get : method;
  for (const auto& r : kContract) {
    const auto n = static_cast<std::size_t>(
        std::count_if(r.pattern.begin(), r.pattern.end(), [](const char* p) { return p != nullptr; }));
    if (r.method != m || n != segments.size()) continue;
    bool match = true;
    for (std::size_t i = 0; i < n && match; ++i) {
      match = std::string_view(r.pattern[i]) == "*" || segments[i] == r.pattern[i];
    }
    if (match) return &r;
  }
  return nullptr;
}

bool state_changing(http::verb v) {
  return v == http::verb::post || v == http::verb::put || v == http::verb::patch || v == http::verb::delete_;
}

/// The harness session whose id the request's Cookie header carries, if any.
std::optional<std::size_t> cookie_role(const World& w, const web::Request& req) {
  for (std::size_t r = 0; r < w.logins.size(); ++r) {
    const std::string needle = std::string(web::kSessionCookie) + "=" + w.logins[r].session;
    for (const auto& field : req) {
      if (field.name() == http::field::cookie && web::sv(field.value()).find(needle) != std::string_view::npos) {
        return r;
      }
    }
  }
  return std::nullopt;
}

void check_headers(const web::Response& res) {
  for (const auto& field : res) {
    const std::string_view value = web::sv(field.value());
    check(value.find_first_of("\r\n") == std::string_view::npos, "CR or LF in a response header",
          web::sv(field.name_string()));
  }
}

void check_api_response(const World& w, const web::Request& req, const web::Response& res,
                        std::uint64_t denials_before) {
  const unsigned status = res.result_int();
  constexpr std::array<unsigned, 14> kStatuses{200, 204, 400, 401, 403, 404, 405, 409, 413, 415, 423, 429, 500, 503};
  check(std::find(kStatuses.begin(), kStatuses.end(), status) != kStatuses.end(), "status outside the contract",
        std::to_string(status));
  check_headers(res);

  const std::string_view target = web::sv(req.target());
  const std::string_view path = target.substr(0, target.find('?'));
  const std::string_view query = target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1);
  const std::vector<std::string> segments = api_segments(path);
  const bool session_route = segments.size() == 1 && segments[0] == "session";
  const std::string type(res[http::field::content_type]);

  if (status == 204) {
    check(res.body().empty(), "a 204 with a body");
    check(session_route && req.method() == http::verb::delete_, "a 204 outside DELETE /session");
  } else if (type == "application/json") {
    const json body = json::parse(res.body(), nullptr, false);
    check(body.is_object(), "a JSON response that is not an object", res.body());
    if (status >= 400) {
      check(body.contains("error") && body["error"].is_string() && body.contains("message") &&
                body["message"].is_string(),
            "an error body without error/message", res.body());
    }
  } else if (type == "image/svg+xml") {
    check(status == 200 && segments.size() == 2 && segments[0] == "stats" &&
              (segments[1] == "entries.svg" || segments[1] == "denials.svg"),
          "SVG from a route that is not a chart", target);
    check(res.body().rfind("<svg", 0) == 0 && res.body().find("</svg>") != std::string::npos, "a chart that is no SVG");
    check(res.body().find("<script") == std::string::npos, "a chart with a script");
  } else if (type.rfind("text/csv", 0) == 0 || type == "application/x-ndjson") {
    const bool csv = type.rfind("text/csv", 0) == 0;
    const auto q = web::parse_query(query);
    check(status == 200 && segments.size() == 2 && segments[0] == "audit" && segments[1] == "export" && q &&
              q->count("format") == 1 && q->at("format") == (csv ? "csv" : "jsonl"),
          "an export from a route or format that does not say so", target);
    if (!csv) {
      std::istringstream lines(res.body());
      for (std::string line; std::getline(lines, line);) {
        check(json::parse(line, nullptr, false).is_object(), "a JSONL export line that is no JSON object", line);
      }
    }
  } else {
    fail("an API response of unexpected type", type);
  }

  if (status == 403 && json::parse(res.body(), nullptr, false).value("error", "") == "forbidden") {
    check(w.site->denials > denials_before, "a role refusal without its audit record", target);
  }

  if (status < 200 || status >= 300) return;
  if (session_route) {
    // Login (POST) needs no token; GET answers the session; DELETE needs the token (below).
    if (req.method() != http::verb::delete_) return;
  }
  const auto role = cookie_role(w, req);
  check(role.has_value(), "a 2xx without a harness session cookie", target);
  if (!session_route) {
    const ContractRoute* route = contract_route(req.method(), segments);
    check(route != nullptr, "a 2xx on a route the contract does not have", target);
    check(web::allowed(kRoles[*role], route->action), "a 2xx for a role the contract refuses", target);
  }
  if (state_changing(req.method())) {
    const auto token = req.find("X-CSRF-Token");
    check(token != req.end() && web::sv(token->value()) == w.logins[*role].csrf,
          "a state change without the session's own CSRF token", target);
  }
}

void check_asset(const World& w, const web::Request& req) {
  if (req.method() != http::verb::get && req.method() != http::verb::head) return;  // 405, headers only
  const auto asset = web::resolve_asset(w.assets, web::sv(req.target()));
  if (!asset) return;
  check(std::find(w.asset_files.begin(), w.asset_files.end(), asset->file) != w.asset_files.end(),
        "an asset path that is not one of the page's files", asset->file.string());
  check(!asset->mime.empty(), "an asset without a MIME type");
  const auto data = web::read_asset(asset->file, web::ServerLimits{}.asset_limit);
  check(data.has_value(), "an asset that cannot be read", asset->file.string());
  check(data->find(kSecret) == std::string::npos, "the secret served as an asset", web::sv(req.target()));
}

void check_live(World& w, const web::Request& req) {
  if (!beast::websocket::is_upgrade(req)) return;  // 400 websocket_required
  auto admitted = w.api->admit_live(req);
  if (auto* refusal = std::get_if<web::Response>(&admitted)) {
    check(refusal->result() == http::status::unauthorized || refusal->result() == http::status::forbidden,
          "a live refusal that is neither 401 nor 403");
    return;
  }
  const auto& client = std::get<web::LiveClient>(admitted);
  const auto role = cookie_role(w, req);
  check(role.has_value() && client.operator_name == kOperators[*role], "a live socket without the harness session");
  const auto origin = req.find(http::field::origin);
  const auto host = req.find(http::field::host);
  check(origin != req.end() && host != req.end() &&
            web::sv(origin->value()) == "https://" + std::string(web::sv(host->value())),
        "a live socket for a foreign Origin");
}

enum class Csrf : std::uint8_t { own, other, none, as_sent };

/// Sets the Cookie and X-CSRF-Token headers as the mode byte says.
void inject(const World& w, web::Request& req, std::optional<std::size_t> role, Csrf csrf, bool cookie_placed) {
  if (!role) return;
  if (!cookie_placed) req.set(http::field::cookie, std::string(web::kSessionCookie) + "=" + w.logins[*role].session);
  switch (csrf) {
    case Csrf::own:
      req.set("X-CSRF-Token", w.logins[*role].csrf);
      break;
    case Csrf::other:
      req.set("X-CSRF-Token", w.logins[(*role + 1) % w.logins.size()].csrf);
      break;
    case Csrf::none:
      req.erase("X-CSRF-Token");
      break;
    case Csrf::as_sent:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  World& w = world();
  const std::uint8_t mode = data[0];
  const std::optional<std::size_t> role =
      (mode & 3U) == 3U ? std::nullopt : std::optional<std::size_t>(static_cast<std::size_t>(mode & 3U));
  const auto csrf = static_cast<Csrf>((mode >> 2U) & 3U);
  constexpr std::array<std::size_t, 8> kChunks{65536, 1, 2, 3, 7, 16, 64, 512};
  const std::size_t chunk = kChunks[(mode >> 4U) & 7U];
  if ((mode & 0x80U) != 0) w.clock.advance(16min);  // past the idle timeout: the session has expired

  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool cookie_placed = role && bytes.find("@S@") != std::string::npos;
  if (role) {
    replace_all(bytes, "@S@", w.logins[*role].session);
    replace_all(bytes, "@C@", w.logins[*role].csrf);
  }
  w.site->reset();

  // As HttpSession::do_read/on_read: the same limits, the same routing, keep-alive for pipelining.
  const web::ServerLimits limits;
  ChunkedSource source(bytes, chunk);
  beast::flat_buffer buffer;
  buffer.max_size(limits.header_limit + limits.body_limit + 4096);
  for (std::size_t n = 0; n < kMaxRequestsPerInput; ++n) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(limits.body_limit);
    parser.header_limit(limits.header_limit);
    beast::error_code ec;
    http::read(source, buffer, parser, ec);
    if (ec) break;  // end of stream, or a 400/413/431 and the connection closes
    web::Request req = parser.release();
    if (req.version() != 11 && req.version() != 10) break;
    const std::string_view target = web::sv(req.target());
    if (target.empty() || target.front() != '/') break;
    inject(w, req, role, csrf, cookie_placed);
    const bool keep_alive = req.keep_alive();
    const std::string_view path = target.substr(0, target.find('?'));
    const bool api = path.substr(0, 5) == "/api/" || path == "/api";
    if (path == "/api/v1/live") {
      check_live(w, req);
      break;
    }
    if (api) {
      const std::uint64_t denials_before = w.site->denials;
      web::Response res = call_api(w, req);
      check_api_response(w, req, res, denials_before);
      // What the server adds and writes must serialise.
      web::add_security_headers(res, true);
      res.keep_alive(keep_alive);
      res.prepare_payload();
      check(!serialise(res).empty(), "an empty serialised response");
    } else {
      check_asset(w, req);
    }
    if (!keep_alive) break;
  }
  restore_sessions(w);
  return 0;
}
