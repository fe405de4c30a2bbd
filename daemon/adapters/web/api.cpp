// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/api.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/beast/http/field.hpp>
#include <charconv>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "adapters/credentials/credential_csv.hpp"
#include "adapters/web/charts.hpp"
#include "adapters/web/spool_file.hpp"

namespace zonegate::adapters::web {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxText = 256;       // a filter value, a name, an id
constexpr std::size_t kMaxNote = 500;       // an operator's note or reason
constexpr std::size_t kMaxPassword = 1024;  // scrypt takes any length; this bounds the work
constexpr unsigned kMaxJsonDepth = 16;
constexpr std::uint32_t kDefaultLimit = 100;
constexpr std::uint32_t kMaxLimit = 500;

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> url_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (in[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return out;
}

/// Text an attacker chose, made safe for an audit record's actor field: a login name is at most
/// 64 characters of a harmless alphabet.
std::string sanitize_name(std::string_view name) {
  std::string out;
  for (const char c : name.substr(0, 64)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == '@';
    out += ok ? c : '?';
  }
  return out.empty() ? std::string("?") : out;
}

/// Deepest nesting of a JSON text, strings skipped; run before parsing so that a body of 60,000
/// brackets is refused without recursion anywhere.
unsigned json_depth(std::string_view text) {
  unsigned depth = 0;
  unsigned max = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max = std::max(max, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return max;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string cursor_text(const audit::Row& r) {
  return std::to_string(r.at.time_since_epoch().count()) + "." + std::to_string(r.seq);
}

std::optional<audit::Cursor> parse_cursor(std::string_view s) {
  const auto dot = s.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const auto ms = parse_u64(s.substr(0, dot));
  const auto seq = parse_u64(s.substr(dot + 1));
  if (!ms || !seq || *ms > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return audit::Cursor{core::Instant{core::Duration{static_cast<std::int64_t>(*ms)}}, *seq};
}

json row_json(const audit::Row& r) {
  return json{{"seq", r.seq},
              {"at", core::format_utc(r.at)},
              {"kind", r.kind},
              {"event", r.event},
              {"person", r.person},
              {"badge", r.badge},
              {"door", r.door},
              {"zone", r.zone},
              {"direction", r.direction},
              {"verdict", r.verdict},
              {"reason", r.reason},
              {"alarm", r.alarm},
              {"severity", r.severity},
              {"source", r.source},
              {"ref", r.ref},
              {"detail", r.detail},
              {"purged_by", r.purged_by},
              {"hash", audit::to_hex(r.hash)}};
}

json opt_time(const std::optional<core::Instant>& t) { return t ? json(core::format_utc(*t)) : json(nullptr); }

/// A string member of a JSON body: nullopt if absent; `bad` set if present but not a string or
/// longer than `max`.
std::optional<std::string> str_field(const json& body, const char* key, std::size_t max, bool& bad) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string() || it->get_ref<const std::string&>().size() > max) {
    bad = true;
    return std::nullopt;
  }
  return it->get<std::string>();
}

unsigned credential_status(credentials::Errc e) {
  switch (e) {
    case credentials::Errc::not_found:
      return 404;
    case credentials::Errc::conflict:
      return 409;
    case credentials::Errc::invalid_argument:
      return 400;
    default:
      return 500;
  }
}

unsigned operator_status(Errc e) {
  switch (e) {
    case Errc::not_found:
      return 404;
    case Errc::conflict:
      return 409;
    case Errc::invalid_argument:
    case Errc::weak_password:
      return 400;
    default:
      return 500;
  }
}

/// The session cookie's value in a request, or empty.
std::string session_id_of(const Request& req) {
  const auto it = req.find(http::field::cookie);
  if (it == req.end()) return {};
  const std::string_view header = sv(it->value());
  std::size_t pos = 0;
  while (pos < header.size()) {
    const auto end = std::min(header.find(';', pos), header.size());
    std::string_view part = header.substr(pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > kSessionCookie.size() && part.substr(0, kSessionCookie.size()) == kSessionCookie &&
        part[kSessionCookie.size()] == '=') {
      return std::string(part.substr(kSessionCookie.size() + 1));
    }
    pos = end + 1;
  }
  return {};
}

/// True for a request the page made by itself (a background refetch), not the operator: it must not
/// count as use of the session.
bool background_request(const Request& req) {
  const auto it = req.find("X-Zonegate-Background");
  return it != req.end() && it->value() == "1";
}

std::string compact_utc(core::Instant t) {
  std::string s = core::format_utc(t);  // 2026-12-01T00:00:00.000Z
  std::string out;
  for (const char c : s.substr(0, 19)) {
    if (c != '-' && c != ':') out += c;
  }
  return out + "Z";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Parsing helpers
// ---------------------------------------------------------------------------------------------

std::optional<core::Instant> parse_instant(std::string_view text) {
  // A bare date means a whole day to the credential parser; the API wants an instant.
  if (text.size() < 16 || text[10] != 'T') return std::nullopt;
  std::string error;
  return credentials::parse_validity(text, false, &error);
}

std::optional<std::map<std::string, std::string>> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    auto name = url_decode(part.substr(0, eq), true);
    auto value = url_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), true);
    if (!name || !value) return std::nullopt;
    if (!out.emplace(std::move(*name), std::move(*value)).second) return std::nullopt;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Requests and routes
// ---------------------------------------------------------------------------------------------

struct Api::Ctx {
  Request req;
  std::string peer;
  Respond respond;
  std::vector<std::string> segments;  ///< path below /api/v1/, decoded
  std::map<std::string, std::string> query;
  std::optional<Session> session;
  std::string actor;  ///< "console:<name>"
  json body;
  std::string param;  ///< the {id} of the route, if any
  bool responded = false;

  void send(ApiResponse res) {
    if (responded) return;
    responded = true;
    respond(std::move(res));
  }
  void send_json(http::status status, const json& value) {
    Response res{status, req.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = value.dump(-1, ' ', false, json::error_handler_t::replace);
    send(std::move(res));
  }
  void fail(http::status status, std::string_view code, std::string_view message) {
    send(Api::error_response(req, status, code, message));
  }
  void fail(unsigned status, std::string_view code, std::string_view message) {
    fail(static_cast<http::status>(status), code, message);
  }
};

struct Api::Route {
  http::verb method;
  std::array<const char*, 3> pattern;  ///< "*" matches one segment (the route's parameter)
  std::optional<Action> action;        ///< nullopt: any logged-in operator
  Handler handler;
  std::initializer_list<const char*> params;  ///< query parameters the route accepts
};

namespace {

constexpr std::initializer_list<const char*> kNoParams{};
constexpr std::initializer_list<const char*> kAuditParams{"person", "badge", "zone", "door",  "verdict", "reason",
                                                          "kind",   "from",  "to",   "limit", "after"};
constexpr std::initializer_list<const char*> kExportParams{"format",  "person", "badge", "zone", "door",
                                                           "verdict", "reason", "kind",  "from", "to"};
constexpr std::initializer_list<const char*> kRangeParams{"from", "to"};
constexpr std::initializer_list<const char*> kPageParams{"after", "limit"};
constexpr std::initializer_list<const char*> kBadgeParams{"person", "after", "limit"};

bool state_changing(http::verb v) {
  return v == http::verb::post || v == http::verb::put || v == http::verb::patch || v == http::verb::delete_;
}

}  // namespace

Api::Api(boost::asio::io_context& io, ports::Clock& clock, SiteBackend& site, audit::AuditStore& audit,
         credentials::CredentialStore& credentials, std::unique_ptr<OperatorStore> operators, ApiOptions options)
    : io_(io),
      clock_(clock),
      site_(site),
      audit_(audit),
      credentials_(credentials),
      operators_(std::move(operators)),
      options_(std::move(options)),
      sessions_(options_.sessions),
      alive_(std::make_shared<int>(0)),
      revalidate_timer_(io),
      operator_worker_(std::make_unique<Worker>("zg-console-auth", options_.worker_queue)),
      audit_worker_(std::make_unique<Worker>("zg-console-audit", options_.worker_queue)) {
  // A session that ends by itself (idle, 12 hours, evicted) closes its live socket like a logout
  // does, and says so in the trail: otherwise an unattended console would keep showing alarms.
  sessions_.set_end_observer([this](const Session& s, SessionEnd why) {
    using std::chrono::duration_cast;
    std::string detail;
    switch (why) {
      case SessionEnd::idle:
        detail =
            "idle for " + std::to_string(duration_cast<std::chrono::seconds>(sessions_.limits().idle).count()) + " s";
        break;
      case SessionEnd::absolute:
        detail = "reached its end " +
                 std::to_string(duration_cast<std::chrono::minutes>(sessions_.limits().absolute).count()) +
                 " min after login";
        break;
      case SessionEnd::evicted:
        detail = "evicted: the least recently used of too many sessions";
        break;
    }
    audit_action("console:" + s.operator_name, "session_expired", detail);
    end_sessions(s.id, {});
  });
  revalidate_sessions();
}

Api::~Api() { stop(); }

void Api::stop() {
  revalidate_timer_.cancel();
  alive_.reset();
  if (operator_worker_) operator_worker_->stop();
  if (audit_worker_) audit_worker_->stop();
}

Response Api::error_response(const Request& request, http::status status, std::string_view code,
                             std::string_view message) {
  Response res{status, request.version()};
  res.set(http::field::content_type, "application/json");
  res.body() = json{{"error", code}, {"message", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
  return res;
}

void Api::revalidate_sessions() {
  // Polled (a primary-key scan of a handful of operators) rather than signalled: the CLI is another
  // process. A change made there takes effect here within one period.
  revalidate_timer_.expires_after(std::chrono::seconds(2));
  revalidate_timer_.async_wait([this, weak = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
    if (ec || !weak.lock()) return;
    // Sessions that ran out are swept here, so that their live sockets close within one period
    // even if no request comes (the end observer closes them and records the end).
    sessions_.expire(clock_.now());
    if (sessions_.size() > 0) {
      run_operators([this](OperatorStore& store) {
        auto listed = std::make_shared<Result<std::vector<Operator>>>(store.list());
        post_back([this, listed] {
          if (!*listed) return;  // the store is unreadable: keep sessions; logins fail anyway
          std::map<std::string, const Operator*, std::less<>> by_name;
          for (const Operator& o : listed->value()) by_name.emplace(o.name, &o);
          const auto ended = sessions_.drop_if([&](const Session& s) {
            const auto it = by_name.find(s.operator_name);
            return it == by_name.end() || it->second->disabled || it->second->role != s.role;
          });
          for (const std::string& name : ended) {
            end_sessions({}, name);
            audit_action("console", "session_end",
                         "operator " + name + " was disabled, removed or given another role outside the console");
          }
        });
      });
    }
    revalidate_sessions();
  });
}

void Api::post_back(std::function<void()> fn) {
  boost::asio::post(io_, [weak = std::weak_ptr<int>(alive_), fn = std::move(fn)] {
    if (weak.lock()) fn();
  });
}

bool Api::run_operators(std::function<void(OperatorStore&)> job) {
  if (!alive_ || !operators_) return false;
  return operator_worker_->submit([this, job = std::move(job)] { job(*operators_); });
}

void Api::run_audit(const CtxPtr& ctx, std::function<ApiResponse(audit::AuditStore&)> job) {
  if (!options_.open_audit_reader) {
    ctx->send(job(audit_));
    return;
  }
  const bool queued = audit_worker_->submit([this, ctx, job = std::move(job)] {
    if (!audit_reader_ && !audit_reader_failed_) {
      auto opened = options_.open_audit_reader();
      if (opened) {
        audit_reader_ = std::move(*opened);
      } else {
        audit_reader_failed_ = true;
      }
    }
    if (!audit_reader_) {
      post_back([ctx] { ctx->fail(500, "internal", "the audit trail cannot be opened for reading"); });
      return;
    }
    auto res = std::make_shared<ApiResponse>(job(*audit_reader_));
    post_back([ctx, res] { ctx->send(std::move(*res)); });
  });
  if (!queued) ctx->fail(429, "busy", "too many audit requests at once; try again");
}

void Api::audit_action(const std::string& actor, const std::string& event, const std::string& detail,
                       const std::string& person, const std::string& badge) {
  site_.record(AuditKind::operator_action, actor, event, detail.substr(0, 2000), person, badge);
}

void Api::end_sessions(const std::string& session_id, const std::string& operator_name) {
  if (session_end_observer_) session_end_observer_(session_id, operator_name);
}

void Api::handle(Request request, const std::string& peer, Respond respond) {
  auto ctx = std::make_shared<Ctx>();
  ctx->req = std::move(request);
  ctx->peer = peer;
  ctx->respond = std::move(respond);
  dispatch(ctx);
}

void Api::dispatch(const CtxPtr& ctx) {
  static const std::array<Route, 23> kRoutes{{
      {http::verb::get, {"alarms"}, Action::view_alarms, &Api::get_alarms, kNoParams},
      {http::verb::post, {"alarms", "*", "ack"}, Action::ack_alarm, &Api::ack_alarm, kNoParams},
      {http::verb::get, {"doors"}, Action::view_doors, &Api::get_doors, kNoParams},
      {http::verb::post, {"doors", "*", "unlock"}, Action::unlock_door, &Api::unlock_door, kNoParams},
      {http::verb::post, {"held", "release"}, Action::release_held, &Api::release_held, kNoParams},
      {http::verb::post, {"lockdown"}, Action::lockdown, &Api::do_lockdown, kNoParams},
      {http::verb::post, {"lockdown", "lift"}, Action::lift_lockdown, &Api::lift_lockdown, kNoParams},
      {http::verb::get, {"occupancy"}, Action::view_occupancy, &Api::get_occupancy, kNoParams},
      {http::verb::get, {"audit"}, Action::view_audit, &Api::get_audit, kAuditParams},
      {http::verb::get, {"audit", "export"}, Action::export_audit, &Api::export_audit, kExportParams},
      {http::verb::get, {"audit", "verify"}, Action::verify_audit, &Api::verify_audit, kNoParams},
      {http::verb::get, {"stats", "entries.svg"}, Action::view_audit, &Api::entries_chart, kRangeParams},
      {http::verb::get, {"stats", "denials.svg"}, Action::view_audit, &Api::denials_chart, kRangeParams},
      {http::verb::get, {"people"}, Action::view_people, &Api::get_people, kPageParams},
      {http::verb::post, {"people"}, Action::manage_people, &Api::put_person, kNoParams},
      {http::verb::get, {"badges"}, Action::view_people, &Api::get_badges, kBadgeParams},
      {http::verb::post, {"badges"}, Action::manage_badges, &Api::add_badge, kNoParams},
      {http::verb::post, {"badges", "*", "revoke"}, Action::manage_badges, &Api::revoke_badge, kNoParams},
      {http::verb::patch, {"badges", "*"}, Action::manage_badges, &Api::patch_badge, kNoParams},
      {http::verb::get, {"operators"}, Action::manage_operators, &Api::get_operators, kNoParams},
      {http::verb::post, {"operators"}, Action::manage_operators, &Api::add_operator, kNoParams},
      {http::verb::post, {"operators", "*", "disable"}, Action::manage_operators, &Api::disable_operator, kNoParams},
      {http::verb::post, {"operators", "*", "enable"}, Action::manage_operators, &Api::enable_operator, kNoParams},
  }};

  const std::string_view target = sv(ctx->req.target());
  const auto qpos = target.find('?');
  const std::string_view path = target.substr(0, qpos);
  constexpr std::string_view kPrefix = "/api/v1/";
  if (path.substr(0, kPrefix.size()) != kPrefix) {
    ctx->fail(http::status::not_found, "not_found", "no such API route (the API is /api/v1/)");
    return;
  }
  // Split and decode the path; an encoded '/' inside a segment stays inside it.
  std::string_view rest = path.substr(kPrefix.size());
  while (true) {
    const auto slash = rest.find('/');
    auto seg = url_decode(rest.substr(0, slash), false);
    if (!seg || seg->empty() || seg->size() > kMaxText) {
      ctx->fail(http::status::not_found, "not_found", "no such API route");
      return;
    }
    ctx->segments.push_back(std::move(*seg));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  if (auto q = parse_query(qpos == std::string_view::npos ? std::string_view() : target.substr(qpos + 1))) {
    ctx->query = std::move(*q);
  } else {
    ctx->fail(http::status::bad_request, "bad_query", "malformed or repeated query parameter");
    return;
  }

  if (ctx->segments.size() == 1 && ctx->segments[0] == "session") {
    session_route(ctx);
    return;
  }

  const Route* route = nullptr;
  std::string allow;
  for (const auto& r : kRoutes) {
    const std::size_t n = static_cast<std::size_t>(
        std::count_if(r.pattern.begin(), r.pattern.end(), [](const char* p) { return p != nullptr; }));
    if (n != ctx->segments.size()) continue;
    bool match = true;
    std::string param;
    for (std::size_t i = 0; i < n && match; ++i) {
      if (std::string_view(r.pattern[i]) == "*") {
        param = ctx->segments[i];
      } else {
        match = ctx->segments[i] == r.pattern[i];
      }
    }
    if (!match) continue;
    if (r.method == ctx->req.method() || (r.method == http::verb::get && ctx->req.method() == http::verb::head)) {
      route = &r;
      ctx->param = std::move(param);
      break;
    }
    if (!allow.empty()) allow += ", ";
    allow += std::string(http::to_string(r.method));
  }
  if (route == nullptr) {
    if (allow.empty()) {
      ctx->fail(http::status::not_found, "not_found", "no such API route");
    } else {
      Response res = error_response(ctx->req, http::status::method_not_allowed, "method_not_allowed",
                                    "this route allows " + allow);
      res.set(http::field::allow, allow);
      ctx->send(std::move(res));
    }
    return;
  }

  // Session, then CSRF, then role: an unauthenticated or forged request learns nothing more.
  const core::Instant now = clock_.now();
  const std::string cookie = session_id_of(ctx->req);
  if (!cookie.empty()) {
    ctx->session = background_request(ctx->req) ? sessions_.peek(cookie, now) : sessions_.lookup(cookie, now);
  }
  if (!ctx->session) {
    ctx->fail(http::status::unauthorized, "session_expired", "not logged in, or the session expired");
    return;
  }
  ctx->actor = "console:" + ctx->session->operator_name;
  if (state_changing(ctx->req.method())) {
    const auto it = ctx->req.find("X-CSRF-Token");
    const bool token_ok = it != ctx->req.end() && SessionTable::check_csrf(*ctx->session, sv(it->value()));
    // A browser always sends Origin on a cross-site POST; if it is there it must be ours.
    const auto origin = ctx->req.find(http::field::origin);
    const auto host = ctx->req.find(http::field::host);
    const bool origin_ok = origin == ctx->req.end() ||
                           (host != ctx->req.end() && origin->value() == "https://" + std::string(host->value()));
    if (!token_ok || !origin_ok) {
      ctx->fail(http::status::forbidden, "csrf", "missing or wrong X-CSRF-Token (or a foreign Origin)");
      return;
    }
  }
  if (route->action && !allowed(ctx->session->role, *route->action)) {
    audit_action(ctx->actor, "denied",
                 std::string(http::to_string(ctx->req.method())) + " " + std::string(path) + ": role " +
                     std::string(to_string(ctx->session->role)) + " may not " + std::string(to_string(*route->action)));
    ctx->fail(http::status::forbidden, "forbidden",
              "the " + std::string(to_string(ctx->session->role)) + " role may not do this");
    return;
  }
  for (const auto& [name, value] : ctx->query) {
    const bool known =
        std::any_of(route->params.begin(), route->params.end(), [&n = name](const char* p) { return n == p; });
    if (!known) {
      ctx->fail(http::status::bad_request, "unknown_parameter", "unknown query parameter '" + name.substr(0, 64) + "'");
      return;
    }
    if (value.size() > kMaxText) {
      ctx->fail(http::status::bad_request, "invalid_argument", "query parameter '" + name + "' is too long");
      return;
    }
  }
  if (ctx->req.method() == http::verb::post || ctx->req.method() == http::verb::patch) {
    const std::string& body = ctx->req.body();
    if (body.empty()) {
      ctx->body = json::object();
    } else {
      const auto ct = ctx->req.find(http::field::content_type);
      if (ct == ctx->req.end() || !iequals_prefix(sv(ct->value()), "application/json")) {
        ctx->fail(http::status::unsupported_media_type, "unsupported_media_type", "send application/json");
        return;
      }
      if (json_depth(body) > kMaxJsonDepth) {
        ctx->fail(http::status::bad_request, "invalid_json", "JSON nested too deeply");
        return;
      }
      ctx->body = json::parse(body, nullptr, false);
      if (ctx->body.is_discarded() || !ctx->body.is_object()) {
        ctx->fail(http::status::bad_request, "invalid_json", "the body must be a JSON object");
        return;
      }
    }
  }
  (this->*(route->handler))(ctx);
}

// ---------------------------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------------------------

void Api::session_route(const CtxPtr& ctx) {
  const auto method = ctx->req.method();
  if (method == http::verb::post) {
    login(ctx);
    return;
  }
  if (method != http::verb::get && method != http::verb::head && method != http::verb::delete_) {
    Response res = error_response(ctx->req, http::status::method_not_allowed, "method_not_allowed",
                                  "this route allows GET, POST, DELETE");
    res.set(http::field::allow, "GET, POST, DELETE");
    ctx->send(std::move(res));
    return;
  }
  if (!ctx->query.empty()) {
    ctx->fail(http::status::bad_request, "unknown_parameter", "this route takes no query parameters");
    return;
  }
  const std::string id = session_id_of(ctx->req);
  std::optional<Session> s;
  if (!id.empty()) {
    s = background_request(ctx->req) ? sessions_.peek(id, clock_.now()) : sessions_.lookup(id, clock_.now());
  }
  if (!s) {
    ctx->fail(http::status::unauthorized, "session_expired", "not logged in, or the session expired");
    return;
  }
  if (method == http::verb::delete_) {
    const auto token = ctx->req.find("X-CSRF-Token");
    if (token == ctx->req.end() || !SessionTable::check_csrf(*s, sv(token->value()))) {
      ctx->fail(http::status::forbidden, "csrf", "missing or wrong X-CSRF-Token");
      return;
    }
    sessions_.destroy(id);
    audit_action("console:" + s->operator_name, "logout", "from " + ctx->peer);
    end_sessions(id, {});
    Response res{http::status::no_content, ctx->req.version()};
    res.set(http::field::set_cookie, expired_session_cookie());
    ctx->send(std::move(res));
    return;
  }
  ctx->send_json(
      http::status::ok,
      json{{"operator", s->operator_name},
           {"role", to_string(s->role)},
           {"csrf", s->csrf_token},
           {"idle_timeout_s", std::chrono::duration_cast<std::chrono::seconds>(sessions_.limits().idle).count()}});
}

void Api::login(const CtxPtr& ctx) {
  const auto ct = ctx->req.find(http::field::content_type);
  if (ct == ctx->req.end() || !iequals_prefix(sv(ct->value()), "application/json")) {
    ctx->fail(http::status::unsupported_media_type, "unsupported_media_type", "send application/json");
    return;
  }
  if (json_depth(ctx->req.body()) > kMaxJsonDepth) {
    ctx->fail(http::status::bad_request, "invalid_json", "JSON nested too deeply");
    return;
  }
  const json body = json::parse(ctx->req.body(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    ctx->fail(http::status::bad_request, "invalid_json", "the body must be a JSON object");
    return;
  }
  bool bad = false;
  auto name = str_field(body, "name", 64, bad);
  auto password = str_field(body, "password", kMaxPassword, bad);
  if (bad || !name || !password || name->empty()) {
    ctx->fail(http::status::bad_request, "invalid_argument", "name and password (strings) are required");
    return;
  }
  const core::Instant now = clock_.now();
  auto result = std::make_shared<std::optional<Result<AuthResult>>>();
  const bool queued = run_operators([this, ctx, name = *name, password = *password, now, result](OperatorStore& s) {
    *result = s.authenticate(name, password, now);
    post_back([this, ctx, name, result] {
      const std::string actor = "console:" + sanitize_name(name);
      const Result<AuthResult>& r = **result;
      if (!r) {
        ctx->fail(http::status::internal_server_error, "internal", "the operator store failed");
        return;
      }
      switch (r->outcome) {
        case AuthOutcome::ok: {
          auto session = sessions_.create(name, r->role.value_or(Role::guard), clock_.now());
          if (!session) {
            ctx->fail(http::status::internal_server_error, "internal", "cannot start a session");
            return;
          }
          audit_action(actor, "login", "role " + std::string(to_string(session->role)) + " from " + ctx->peer);
          Response res{http::status::ok, ctx->req.version()};
          res.set(http::field::content_type, "application/json");
          res.set(http::field::set_cookie, session_cookie(session->id));
          res.body() = json{{"operator", session->operator_name},
                            {"role", to_string(session->role)},
                            {"csrf", session->csrf_token},
                            {"idle_timeout_s",
                             std::chrono::duration_cast<std::chrono::seconds>(sessions_.limits().idle).count()}}
                           .dump();
          ctx->send(std::move(res));
          return;
        }
        case AuthOutcome::locked:
          audit_action(actor, "login_locked",
                       "from " + ctx->peer +
                           (r->locked_until ? ", locked until " + core::format_utc(*r->locked_until) : std::string()));
          ctx->fail(http::status::locked, "locked", "too many failed logins; the account is locked for a while");
          return;
        case AuthOutcome::disabled:
          audit_action(actor, "login_failed", "account disabled, from " + ctx->peer);
          ctx->fail(http::status::unauthorized, "bad_credentials", "wrong name or password");
          return;
        case AuthOutcome::bad_credentials:
          audit_action(actor, "login_failed", "from " + ctx->peer);
          ctx->fail(http::status::unauthorized, "bad_credentials", "wrong name or password");
          return;
      }
    });
  });
  if (!queued) ctx->fail(http::status::too_many_requests, "busy", "too many logins at once; try again");
}

// ---------------------------------------------------------------------------------------------
// Guard
// ---------------------------------------------------------------------------------------------

void Api::get_alarms(const CtxPtr& ctx) { ctx->send_json(http::status::ok, site_.alarms()); }
void Api::get_doors(const CtxPtr& ctx) { ctx->send_json(http::status::ok, site_.doors()); }
void Api::get_occupancy(const CtxPtr& ctx) { ctx->send_json(http::status::ok, site_.occupancy()); }

void Api::ack_alarm(const CtxPtr& ctx) {
  const auto id = parse_u64(ctx->param);
  if (!id) {
    ctx->fail(http::status::not_found, "not_found", "no such alarm");
    return;
  }
  bool bad = false;
  const auto note = str_field(ctx->body, "note", kMaxNote, bad);
  if (bad || !note || note->empty()) {
    ctx->fail(http::status::bad_request, "invalid_argument", "a note of 1 to 500 characters is required");
    return;
  }
  const SiteResult r = site_.acknowledge(*id, ctx->actor, *note);
  if (r.status != 200) {
    ctx->fail(r.status, r.error, r.message);
    return;
  }
  ctx->send_json(http::status::ok, r.body);
}

void Api::unlock_door(const CtxPtr& ctx) {
  bool bad = false;
  const auto reason = str_field(ctx->body, "reason", kMaxNote, bad);
  if (bad || !reason || reason->empty()) {
    ctx->fail(http::status::bad_request, "invalid_argument", "a reason of 1 to 500 characters is required");
    return;
  }
  const SiteResult r = site_.unlock(ctx->param, ctx->actor, *reason);
  if (r.status != 200) {
    ctx->fail(r.status, r.error, r.message);
    return;
  }
  ctx->send_json(http::status::ok, r.body);
}

void Api::release_held(const CtxPtr& ctx) {
  bool bad = false;
  const auto door = str_field(ctx->body, "door", kMaxText, bad);
  const auto person = str_field(ctx->body, "person", kMaxText, bad);
  const auto note = str_field(ctx->body, "note", kMaxNote, bad);
  if (bad || !door || door->empty() || !note || note->empty()) {
    ctx->fail(http::status::bad_request, "invalid_argument", "door and a note of 1 to 500 characters are required");
    return;
  }
  const SiteResult r = site_.release(*door, person, ctx->actor, *note);
  if (r.status != 200) {
    ctx->fail(r.status, r.error, r.message);
    return;
  }
  ctx->send_json(http::status::ok, r.body);
}

void Api::do_lockdown(const CtxPtr& ctx) {
  bool bad = false;
  const auto zone = str_field(ctx->body, "zone", kMaxText, bad);
  const auto reason = str_field(ctx->body, "reason", kMaxNote, bad);
  if (bad || !reason || reason->empty()) {
    ctx->fail(http::status::bad_request, "invalid_argument", "a reason of 1 to 500 characters is required");
    return;
  }
  const SiteResult r = site_.lockdown(false, zone, ctx->actor, *reason);
  if (r.status != 200) {
    ctx->fail(r.status, r.error, r.message);
    return;
  }
  ctx->send_json(http::status::ok, r.body);
}

void Api::lift_lockdown(const CtxPtr& ctx) {
  bool bad = false;
  const auto zone = str_field(ctx->body, "zone", kMaxText, bad);
  const auto reason = str_field(ctx->body, "reason", kMaxNote, bad);
  if (bad || !reason || reason->empty()) {
    ctx->fail(http::status::bad_request, "invalid_argument", "a reason of 1 to 500 characters is required");
    return;
  }
  const SiteResult r = site_.lockdown(true, zone, ctx->actor, *reason);
  if (r.status != 200) {
    ctx->fail(r.status, r.error, r.message);
    return;
  }
  ctx->send_json(http::status::ok, r.body);
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

namespace {

/// The filter of an audit request; on failure sets `error` and returns nullopt.
std::optional<audit::Filter> make_filter(const std::map<std::string, std::string>& q, std::string& error) {
  audit::Filter f;
  const std::pair<const char*, std::optional<std::string> audit::Filter::*> kText[] = {
      {"person", &audit::Filter::person}, {"badge", &audit::Filter::badge},     {"zone", &audit::Filter::zone},
      {"door", &audit::Filter::door},     {"verdict", &audit::Filter::verdict}, {"reason", &audit::Filter::reason},
      {"kind", &audit::Filter::kind}};
  for (const auto& [name, member] : kText) {
    // Values go to SQLite as bound parameters: whatever they contain, they are only compared.
    if (const auto it = q.find(name); it != q.end() && !it->second.empty()) f.*member = it->second;
  }
  for (const auto& [name, member] :
       {std::pair<const char*, std::optional<core::Instant> audit::Filter::*>{"from", &audit::Filter::from},
        {"to", &audit::Filter::to}}) {
    if (const auto it = q.find(name); it != q.end() && !it->second.empty()) {
      auto t = parse_instant(it->second);
      if (!t) {
        error = std::string("'") + name + "' must be an ISO 8601 instant like 2026-12-01T09:00:00Z";
        return std::nullopt;
      }
      f.*member = *t;
    }
  }
  if (f.from && f.to && *f.to < *f.from) {
    error = "'to' precedes 'from'";
    return std::nullopt;
  }
  return f;
}

std::string filter_text(const std::map<std::string, std::string>& q) {
  std::string s;
  for (const auto& [k, v] : q) {
    if (k == "limit" || k == "after" || v.empty()) continue;
    if (!s.empty()) s += ' ';
    s += k + "=" + v;
  }
  return s;
}

std::optional<std::uint32_t> parse_limit(const std::map<std::string, std::string>& q, std::string& error) {
  const auto it = q.find("limit");
  if (it == q.end() || it->second.empty()) return kDefaultLimit;
  const auto v = parse_u64(it->second);
  if (!v || *v < 1 || *v > kMaxLimit) {
    error = "'limit' must be 1 to 500";
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(*v);
}

}  // namespace

void Api::get_audit(const CtxPtr& ctx) {
  std::string error;
  auto filter = make_filter(ctx->query, error);
  const auto limit = filter ? parse_limit(ctx->query, error) : std::nullopt;
  if (!filter || !limit) {
    ctx->fail(http::status::bad_request, "invalid_argument", error);
    return;
  }
  audit::Page page;
  page.limit = *limit + 1;  // one more tells whether there is a next page
  if (const auto it = ctx->query.find("after"); it != ctx->query.end() && !it->second.empty()) {
    page.after = parse_cursor(it->second);
    if (!page.after) {
      ctx->fail(http::status::bad_request, "invalid_argument", "'after' is not a cursor this API returned");
      return;
    }
  }
  // A page of at most 501 rows on the keyset index: milliseconds, so it runs on the loop.
  auto rows = audit_.query(*filter, page);
  if (!rows) {
    ctx->fail(http::status::internal_server_error, "internal", "audit query failed: " + rows.error().message);
    return;
  }
  json out = json::array();
  json next = nullptr;
  for (std::size_t i = 0; i < rows->size() && i < *limit; ++i) out.push_back(row_json((*rows)[i]));
  if (rows->size() > *limit) next = cursor_text((*rows)[*limit - 1]);
  ctx->send_json(http::status::ok, json{{"rows", std::move(out)}, {"next", std::move(next)}});
}

void Api::export_audit(const CtxPtr& ctx) {
  const auto fmt = ctx->query.find("format");
  if (fmt == ctx->query.end() || (fmt->second != "csv" && fmt->second != "jsonl")) {
    ctx->fail(http::status::bad_request, "invalid_argument", "'format' must be csv or jsonl");
    return;
  }
  std::string error;
  auto filter = make_filter(ctx->query, error);
  if (!filter) {
    ctx->fail(http::status::bad_request, "invalid_argument", error);
    return;
  }
  // As the CLI does: an export that cannot be recorded is not served.
  if (!site_.audit_writable()) {
    ctx->fail(http::status::service_unavailable, "audit_unavailable",
              "the audit trail cannot be written now, so the export cannot be recorded");
    return;
  }
  site_.record(AuditKind::export_, ctx->actor, "export", filter_text(ctx->query) + " from " + ctx->peer);
  const bool csv = fmt->second == "csv";
  const std::string filename = "zonegate-audit-" + compact_utc(clock_.now()) + (csv ? ".csv" : ".jsonl");
  const unsigned version = ctx->req.version();
  run_audit(ctx, [filter = *filter, csv, filename, version](audit::AuditStore& store) -> ApiResponse {
    Request dummy;
    dummy.version(version);
    const auto failed = [&](const std::string& why) {
      return Api::error_response(dummy, http::status::internal_server_error, "internal", "export failed: " + why);
    };
    // Never in memory: a trail of millions of records is hundreds of megabytes and the gateway
    // idles at 16 MB. The store's own export code writes an unnamed file next to the trail (the
    // state directory, which the daemon alone can read), and the server sends it from there.
    auto spool = SpoolFile::create(store.database_path().parent_path());
    if (!spool) return failed(spool.error().message);
    auto n = csv ? store.export_csv(filter, (*spool)->out()) : store.export_jsonl(filter, (*spool)->out());
    if (!n) return failed((*spool)->error().empty() ? n.error().message : "spool file: " + (*spool)->error());
    auto file = (*spool)->release();
    if (!file) return failed(file.error().message);
    FileResponse res{http::status::ok, version};
    res.set(http::field::content_type, csv ? "text/csv; charset=utf-8" : "application/x-ndjson");
    res.set(http::field::content_disposition, "attachment; filename=\"" + filename + "\"");
    res.set("X-Record-Count", std::to_string(*n));
    boost::beast::error_code ec;
    res.body().reset(std::move(*file), ec);
    if (ec) return failed("spool file: " + ec.message());
    return res;
  });
}

void Api::verify_audit(const CtxPtr& ctx) {
  const unsigned version = ctx->req.version();
  run_audit(ctx, [version](audit::AuditStore& store) {
    const audit::VerifyResult v = store.verify();
    // The last checkpoint: look near the end first, widening only if there is none there.
    json last = nullptr;
    const audit::Seq end = store.last_seq();
    for (const audit::Seq back : {audit::Seq{20000}, audit::Seq{2000000}, end}) {
      audit::Seq after = end > back ? end - back : 0;
      std::optional<audit::Checkpoint> found;
      for (;;) {
        auto cps = store.checkpoints(after, 1000);
        if (!cps || cps->empty()) break;
        found = cps->back();
        after = cps->back().seq;
        if (cps->size() < 1000) break;
      }
      if (found) {
        last = json{{"seq", found->seq}, {"at", core::format_utc(found->at)}, {"key_id", audit::to_hex(found->key_id)}};
        break;
      }
      if (after == 0) break;
    }
    Response res{http::status::ok, version};
    res.set(http::field::content_type, "application/json");
    res.body() = json{
        {"ok", v.ok},
        {"records_checked", v.records_checked},
        {"last_seq", v.last_seq},
        {"message", v.message},
        {"last_checkpoint",
         last}}.dump(-1, ' ', false, json::error_handler_t::replace);
    return res;
  });
}

namespace {

/// [from, to) of a chart request, whole hours; defaults to the last 24 hours.
std::optional<std::pair<core::Instant, core::Instant>> chart_range(const std::map<std::string, std::string>& q,
                                                                   core::Instant now, core::Duration max_range,
                                                                   std::string& error) {
  std::string e;
  auto f = make_filter(q, e);
  if (!f) {
    error = e;
    return std::nullopt;
  }
  const auto ceil_hour = [](core::Instant t) { return std::chrono::ceil<std::chrono::hours>(t); };
  const auto floor_hour = [](core::Instant t) { return std::chrono::floor<std::chrono::hours>(t); };
  const core::Instant to = ceil_hour(f->to.value_or(now));
  core::Instant from = floor_hour(f->from.value_or(to - std::chrono::hours(24)));
  if (from >= to) from = to - std::chrono::hours(1);
  if (to - from > max_range) {
    error = "the period may be at most " +
            std::to_string(std::chrono::duration_cast<std::chrono::hours>(max_range).count() / 24) + " days";
    return std::nullopt;
  }
  return std::pair{core::Instant{from}, core::Instant{to}};
}

Response svg_response(unsigned version, std::string svg) {
  Response res{http::status::ok, version};
  res.set(http::field::content_type, "image/svg+xml");
  res.body() = std::move(svg);
  return res;
}

Response chart_query_failed(unsigned version, const std::string& message) {
  Request dummy;
  dummy.version(version);
  return Api::error_response(dummy, http::status::internal_server_error, "internal", "audit query failed: " + message);
}

}  // namespace

void Api::entries_chart(const CtxPtr& ctx) {
  std::string error;
  const auto range = chart_range(ctx->query, clock_.now(), options_.chart_max_range, error);
  if (!range) {
    ctx->fail(http::status::bad_request, "invalid_argument", error);
    return;
  }
  // Zone order from the policy, read here on the loop (the worker must not touch the policy).
  std::vector<std::string> zone_order;
  for (const auto& z : site_.policy().zones) zone_order.push_back(z.id);
  const unsigned version = ctx->req.version();
  // One aggregate query (at most hours x zones rows), on the worker: a month of a busy site is
  // counted inside SQLite, no record is read out.
  run_audit(ctx, [range = *range, zone_order, version](audit::AuditStore& store) {
    const auto [from, to] = range;
    const auto hours = static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::hours>(to - from).count());
    auto counted = store.count_grants_by_hour_zone(from, to);
    if (!counted) return chart_query_failed(version, counted.error().message);
    std::map<std::string, std::vector<std::uint64_t>> per_zone;
    for (const audit::HourZoneCount& c : *counted) {
      if (c.hour < from) continue;
      const auto h = static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::hours>(c.hour - from).count());
      if (h >= hours) continue;
      auto& counts = per_zone[c.zone.empty() ? std::string("(none)") : c.zone];
      if (counts.empty()) counts.assign(hours, 0);
      counts[h] += c.count;
    }
    std::vector<HourlySeries> series;
    for (const auto& id : zone_order) {
      if (auto it = per_zone.find(id); it != per_zone.end()) {
        series.push_back({id, std::move(it->second)});
        per_zone.erase(it);
      }
    }
    for (auto& [id, counts] : per_zone) series.push_back({id, std::move(counts)});  // zones no longer configured
    return svg_response(version, hourly_chart_svg("Entries per hour per zone, " + core::format_utc(from) + " to " +
                                                      core::format_utc(to),
                                                  from, series));
  });
}

void Api::denials_chart(const CtxPtr& ctx) {
  std::string error;
  const auto range = chart_range(ctx->query, clock_.now(), options_.chart_max_range, error);
  if (!range) {
    ctx->fail(http::status::bad_request, "invalid_argument", error);
    return;
  }
  const unsigned version = ctx->req.version();
  run_audit(ctx, [range = *range, version](audit::AuditStore& store) {
    const auto [from, to] = range;
    auto counted = store.count_denials_by_reason(from, to);
    if (!counted) return chart_query_failed(version, counted.error().message);
    // Already one row per reason, in reason order: the stable sort keeps ties alphabetical.
    std::vector<std::pair<std::string, std::uint64_t>> bars;
    for (audit::ReasonCount& c : *counted) bars.emplace_back(std::move(c.reason), c.count);
    std::stable_sort(bars.begin(), bars.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    return svg_response(
        version, bar_chart_svg("Denials by reason, " + core::format_utc(from) + " to " + core::format_utc(to), bars));
  });
}

// ---------------------------------------------------------------------------------------------
// People and badges
// ---------------------------------------------------------------------------------------------

namespace {

json badge_json(const credentials::BadgeInfo& b) {
  return json{{"uid", b.badge.uid},
              {"person", b.badge.person},
              {"name", b.name},
              {"roles", b.roles},
              {"kind", core::to_string(b.badge.kind)},
              {"valid_from", opt_time(b.badge.valid_from)},
              {"valid_until", opt_time(b.badge.valid_until)},
              {"revoked", b.badge.revoked},
              {"updated_at", core::format_utc(b.badge.updated_at)}};
}

}  // namespace

void Api::get_people(const CtxPtr& ctx) {
  std::string error;
  const auto limit = parse_limit(ctx->query, error);
  if (!limit) {
    ctx->fail(http::status::bad_request, "invalid_argument", error);
    return;
  }
  const auto after_it = ctx->query.find("after");
  const std::string after = after_it == ctx->query.end() ? std::string() : after_it->second;
  // A page of at most 501 people on the primary key, each with two index seeks for the counts:
  // milliseconds at any store size, so it runs on the loop.
  auto people = credentials_.list_people(after, *limit + 1, clock_.now());
  if (!people) {
    ctx->fail(http::status::internal_server_error, "internal", people.error().message);
    return;
  }
  json out = json::array();
  json next = nullptr;
  for (std::size_t i = 0; i < people->size() && i < *limit; ++i) {
    const credentials::PersonInfo& p = (*people)[i];
    out.push_back(json{{"id", p.person.id},
                       {"name", p.person.name},
                       {"roles", p.person.roles},
                       {"badges", p.badges},
                       {"active_badges", p.active_badges},
                       {"updated_at", core::format_utc(p.updated_at)}});
  }
  if (people->size() > *limit) next = (*people)[*limit - 1].person.id;
  ctx->send_json(http::status::ok, json{{"people", std::move(out)}, {"next", std::move(next)}});
}

void Api::put_person(const CtxPtr& ctx) {
  bool bad = false;
  const auto id = str_field(ctx->body, "id", 128, bad);
  const auto name = str_field(ctx->body, "name", kMaxText, bad);
  if (bad || !id || !credentials::valid_person_id(*id)) {
    ctx->fail(http::status::bad_request, "invalid_argument", "'id' must be 1-128 characters of [A-Za-z0-9._@+-]");
    return;
  }
  credentials::Person p;
  p.id = *id;
  p.name = name.value_or("");
  const auto roles = ctx->body.find("roles");
  if (roles != ctx->body.end()) {
    if (!roles->is_array() || roles->size() > 64) {
      ctx->fail(http::status::bad_request, "invalid_argument", "'roles' must be an array of role names");
      return;
    }
    for (const auto& r : *roles) {
      if (!r.is_string() || !credentials::valid_role_name(r.get_ref<const std::string&>())) {
        ctx->fail(http::status::bad_request, "invalid_argument", "'roles' must be an array of role names");
        return;
      }
      const std::string& role = r.get_ref<const std::string&>();
      if (!site_.policy().role_index(role)) {
        ctx->fail(http::status::bad_request, "unknown_role", "the site has no role '" + role + "'");
        return;
      }
      if (std::find(p.roles.begin(), p.roles.end(), role) == p.roles.end()) p.roles.push_back(role);
    }
  }
  auto done = credentials_.put_person(p, clock_.now());
  if (!done) {
    ctx->fail(credential_status(done.error().code), std::string(credentials::to_string(done.error().code)),
              done.error().message);
    return;
  }
  std::string roles_text;
  for (const auto& r : p.roles) roles_text += (roles_text.empty() ? "" : ";") + r;
  audit_action(ctx->actor, "person_put", "roles " + (roles_text.empty() ? std::string("(none)") : roles_text), p.id);
  ctx->send_json(http::status::ok, json{{"id", p.id}, {"name", p.name}, {"roles", p.roles}});
}

void Api::get_badges(const CtxPtr& ctx) {
  std::string error;
  const auto limit = parse_limit(ctx->query, error);
  if (!limit) {
    ctx->fail(http::status::bad_request, "invalid_argument", error);
    return;
  }
  credentials::ListOptions lo;
  lo.limit = *limit + 1;
  if (const auto it = ctx->query.find("person"); it != ctx->query.end() && !it->second.empty()) lo.person = it->second;
  if (const auto it = ctx->query.find("after"); it != ctx->query.end() && !it->second.empty())
    lo.after_uid = it->second;
  auto badges = credentials_.list(lo);
  if (!badges) {
    ctx->fail(http::status::internal_server_error, "internal", badges.error().message);
    return;
  }
  json out = json::array();
  json next = nullptr;
  for (std::size_t i = 0; i < badges->size() && i < *limit; ++i) out.push_back(badge_json((*badges)[i]));
  if (badges->size() > *limit) next = (*badges)[*limit - 1].badge.uid;
  ctx->send_json(http::status::ok, json{{"badges", std::move(out)}, {"next", std::move(next)}});
}

namespace {

/// Reads "valid_from"/"valid_until" of a body: absent → keep `current`, null → unbounded.
bool read_validity(const json& body, const char* key, bool until, std::optional<core::Instant>& value,
                   std::string& error) {
  const auto it = body.find(key);
  if (it == body.end()) return true;
  if (it->is_null() || (it->is_string() && it->get_ref<const std::string&>().empty())) {
    value.reset();
    return true;
  }
  if (!it->is_string() || it->get_ref<const std::string&>().size() > 64) {
    error = std::string("'") + key + "' must be a date-time string or null";
    return false;
  }
  std::string e;
  auto t = credentials::parse_validity(it->get_ref<const std::string&>(), until, &e);
  if (!t) {
    error = std::string("'") + key + "': " + e;
    return false;
  }
  value = *t;
  return true;
}

}  // namespace

void Api::add_badge(const CtxPtr& ctx) {
  bool bad = false;
  const auto uid = str_field(ctx->body, "uid", 64, bad);
  const auto person = str_field(ctx->body, "person", 128, bad);
  const auto kind = str_field(ctx->body, "kind", 16, bad);
  const auto canonical = uid ? credentials::normalize_uid(*uid) : std::nullopt;
  if (bad || !canonical || !person || !credentials::valid_person_id(*person)) {
    ctx->fail(http::status::bad_request, "invalid_argument", "'uid' (4-10 hex bytes) and 'person' are required");
    return;
  }
  credentials::Badge b;
  b.uid = *canonical;
  b.person = *person;
  if (kind) {
    const auto k = core::credential_from_string(*kind);
    if (!k) {
      ctx->fail(http::status::bad_request, "invalid_argument", "'kind' must be uid or desfire");
      return;
    }
    b.kind = *k;
  }
  std::string error;
  if (!read_validity(ctx->body, "valid_from", false, b.valid_from, error) ||
      !read_validity(ctx->body, "valid_until", true, b.valid_until, error)) {
    ctx->fail(http::status::bad_request, "invalid_argument", error);
    return;
  }
  if (b.valid_from && b.valid_until && *b.valid_until < *b.valid_from) {
    ctx->fail(http::status::bad_request, "invalid_argument", "'valid_until' precedes 'valid_from'");
    return;
  }
  auto done = credentials_.add(b, clock_.now());
  if (!done) {
    ctx->fail(credential_status(done.error().code), std::string(credentials::to_string(done.error().code)),
              done.error().message);
    return;
  }
  audit_action(ctx->actor, "badge_add", std::string("kind ") + std::string(core::to_string(b.kind)), b.person, b.uid);
  auto info = credentials_.find(b.uid);
  ctx->send_json(http::status::ok, info ? badge_json(*info) : json{{"uid", b.uid}});
}

void Api::revoke_badge(const CtxPtr& ctx) {
  bool bad = false;
  const auto reason = str_field(ctx->body, "reason", kMaxNote, bad);
  const auto uid = credentials::normalize_uid(ctx->param);
  if (!uid) {
    ctx->fail(http::status::not_found, "not_found", "no such badge");
    return;
  }
  if (bad || !reason || reason->empty()) {
    ctx->fail(http::status::bad_request, "invalid_argument", "a reason of 1 to 500 characters is required");
    return;
  }
  const auto before = credentials_.find(*uid);
  auto done = credentials_.revoke(*uid, clock_.now());
  if (!done) {
    ctx->fail(credential_status(done.error().code), std::string(credentials::to_string(done.error().code)),
              done.error().message);
    return;
  }
  audit_action(ctx->actor, "badge_revoke", *reason, before ? before->badge.person : std::string(), *uid);
  auto info = credentials_.find(*uid);
  ctx->send_json(http::status::ok, info ? badge_json(*info) : json{{"uid", *uid}});
}

void Api::patch_badge(const CtxPtr& ctx) {
  const auto uid = credentials::normalize_uid(ctx->param);
  const auto info = uid ? credentials_.find(*uid) : std::nullopt;
  if (!info) {
    ctx->fail(http::status::not_found, "not_found", "no such badge");
    return;
  }
  credentials::Badge b = info->badge;
  std::string error;
  if (!read_validity(ctx->body, "valid_from", false, b.valid_from, error) ||
      !read_validity(ctx->body, "valid_until", true, b.valid_until, error)) {
    ctx->fail(http::status::bad_request, "invalid_argument", error);
    return;
  }
  if (b.valid_from && b.valid_until && *b.valid_until < *b.valid_from) {
    ctx->fail(http::status::bad_request, "invalid_argument", "'valid_until' precedes 'valid_from'");
    return;
  }
  // An end left out of the body keeps its current value (read above); the store sets both in one
  // statement and keeps the holder, the kind and a revocation.
  auto done = credentials_.set_badge_validity(b.uid, b.valid_from, b.valid_until, clock_.now());
  if (!done) {
    ctx->fail(credential_status(done.error().code), std::string(credentials::to_string(done.error().code)),
              done.error().message);
    return;
  }
  audit_action(ctx->actor, "badge_validity",
               "valid_from " + (b.valid_from ? core::format_utc(*b.valid_from) : std::string("-")) + " valid_until " +
                   (b.valid_until ? core::format_utc(*b.valid_until) : std::string("-")),
               b.person, b.uid);
  auto now_info = credentials_.find(b.uid);
  ctx->send_json(http::status::ok, now_info ? badge_json(*now_info) : json{{"uid", b.uid}});
}

// ---------------------------------------------------------------------------------------------
// Operators
// ---------------------------------------------------------------------------------------------

namespace {

json operator_json(const Operator& o) {
  return json{{"name", o.name},
              {"role", to_string(o.role)},
              {"disabled", o.disabled},
              {"created_at", core::format_utc(o.created_at)},
              {"locked_until", opt_time(o.locked_until)},
              {"last_login", opt_time(o.last_login)},
              {"failed_count", o.failed_count}};
}

}  // namespace

void Api::get_operators(const CtxPtr& ctx) {
  const bool queued = run_operators([this, ctx](OperatorStore& s) {
    auto list = std::make_shared<Result<std::vector<Operator>>>(s.list());
    post_back([ctx, list] {
      if (!*list) {
        ctx->fail(http::status::internal_server_error, "internal", list->error().message);
        return;
      }
      json out = json::array();
      for (const auto& o : **list) out.push_back(operator_json(o));
      ctx->send_json(http::status::ok, json{{"operators", std::move(out)}});
    });
  });
  if (!queued) ctx->fail(http::status::too_many_requests, "busy", "the operator store is busy; try again");
}

void Api::add_operator(const CtxPtr& ctx) {
  bool bad = false;
  const auto name = str_field(ctx->body, "name", 64, bad);
  const auto role_text = str_field(ctx->body, "role", 16, bad);
  const auto password = str_field(ctx->body, "password", kMaxPassword, bad);
  const auto role = role_text ? role_from_string(*role_text) : std::nullopt;
  if (bad || !name || !role || !password) {
    ctx->fail(http::status::bad_request, "invalid_argument",
              "'name', 'role' (guard, auditor or admin) and 'password' are required");
    return;
  }
  const core::Instant now = clock_.now();
  const bool queued =
      run_operators([this, ctx, name = *name, role = *role, password = *password, now](OperatorStore& s) {
        auto done = std::make_shared<Result<Done>>(s.add(name, role, password, now));
        post_back([this, ctx, name, role, done] {
          if (!*done) {
            const Error& e = done->error();
            ctx->fail(operator_status(e.code), std::string(to_string(e.code)), e.message);
            return;
          }
          audit_action(ctx->actor, "operator_add", "operator " + name + " role " + std::string(to_string(role)));
          ctx->send_json(http::status::ok, json{{"name", name}, {"role", to_string(role)}, {"disabled", false}});
        });
      });
  if (!queued) ctx->fail(http::status::too_many_requests, "busy", "the operator store is busy; try again");
}

void Api::disable_operator(const CtxPtr& ctx) {
  const core::Instant now = clock_.now();
  const bool queued = run_operators([this, ctx, now](OperatorStore& s) {
    auto done = std::make_shared<Result<Done>>(s.disable(ctx->param, now));
    post_back([this, ctx, done] {
      if (!*done) {
        const Error& e = done->error();
        ctx->fail(operator_status(e.code), std::string(to_string(e.code)), e.message);
        return;
      }
      // A disabled operator is logged out everywhere at once, live views included.
      sessions_.destroy_operator(ctx->param);
      end_sessions({}, ctx->param);
      audit_action(ctx->actor, "operator_disable", "operator " + ctx->param);
      ctx->send_json(http::status::ok, json{{"name", ctx->param}, {"disabled", true}});
    });
  });
  if (!queued) ctx->fail(http::status::too_many_requests, "busy", "the operator store is busy; try again");
}

void Api::enable_operator(const CtxPtr& ctx) {
  const core::Instant now = clock_.now();
  const bool queued = run_operators([this, ctx, now](OperatorStore& s) {
    auto done = std::make_shared<Result<Done>>(s.enable(ctx->param, now));
    post_back([this, ctx, done] {
      if (!*done) {
        const Error& e = done->error();
        ctx->fail(operator_status(e.code), std::string(to_string(e.code)), e.message);
        return;
      }
      audit_action(ctx->actor, "operator_enable", "operator " + ctx->param);
      ctx->send_json(http::status::ok, json{{"name", ctx->param}, {"disabled", false}});
    });
  });
  if (!queued) ctx->fail(http::status::too_many_requests, "busy", "the operator store is busy; try again");
}

// ---------------------------------------------------------------------------------------------
// Live
// ---------------------------------------------------------------------------------------------

std::variant<LiveClient, Response> Api::admit_live(const Request& request) {
  const std::string id = session_id_of(request);
  std::optional<Session> s;
  // Opening (or reopening, after a network blip) the live socket is the page's doing, not the
  // operator's: it does not restart the idle timer.
  if (!id.empty()) s = sessions_.peek(id, clock_.now());
  if (!s) return error_response(request, http::status::unauthorized, "session_expired", "not logged in");
  // Cross-site WebSocket hijacking: a foreign page can open a socket with the guard's cookie; only
  // the Origin tells. It must be present and be this server.
  const auto origin = request.find(http::field::origin);
  const auto host = request.find(http::field::host);
  if (origin == request.end() || host == request.end() || origin->value() != "https://" + std::string(host->value())) {
    return error_response(request, http::status::forbidden, "origin", "the Origin must be this console");
  }
  return LiveClient{id, s->operator_name, s->role, s->created_at + sessions_.limits().absolute - clock_.now()};
}

}  // namespace zonegate::adapters::web
