// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/https_server.hpp"

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <list>
#include <utility>
#include <variant>

#include "adapters/web/static_files.hpp"
#include "adapters/web/tls.hpp"

namespace zonegate::adapters::web {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
namespace fs = std::filesystem;

namespace {

constexpr const char* kCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
constexpr const char* kServerName = "zonegated";

}  // namespace

void add_security_headers(http::response_header<>& res, bool api) {
  res.set(http::field::server, kServerName);
  res.set("Content-Security-Policy", kCsp);
  res.set(http::field::strict_transport_security, "max-age=31536000");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Frame-Options", "DENY");
  res.set("Cross-Origin-Opener-Policy", "same-origin");
  res.set("Cross-Origin-Resource-Policy", "same-origin");
  // The API's answers are personal data: never in a cache. Assets revalidate.
  res.set(http::field::cache_control, api ? "no-store" : "no-cache");
}

class LiveSession;
class HttpSession;

struct HttpsServer::State {
  net::io_context& io;
  ConsoleSettings settings;
  fs::path state_dir;
  Api& api;
  ServerLimits limits;
  ServerLog log;
  TlsFiles tls;
  std::optional<net::ssl::context> ssl;
  tcp::acceptor acceptor;
  fs::path assets_root;  ///< canonical, or empty
  std::size_t connections = 0;
  bool stopped = false;
  std::list<std::weak_ptr<HttpSession>> http_sessions;
  std::list<std::weak_ptr<LiveSession>> live_sessions;

  State(net::io_context& ctx, ConsoleSettings s, fs::path dir, Api& a, ServerLimits l, ServerLog lg)
      : io(ctx),
        settings(std::move(s)),
        state_dir(std::move(dir)),
        api(a),
        limits(l),
        log(std::move(lg)),
        acceptor(ctx) {}

  void note(int level, const std::string& m) const {
    if (log) log(level, "console: " + m);
  }
  void do_accept(const std::shared_ptr<State>& self);
  void close_live(const std::string& session_id, const std::string& operator_name);
};

// ---------------------------------------------------------------------------------------------
// Live (WebSocket) clients
// ---------------------------------------------------------------------------------------------

class LiveSession : public std::enable_shared_from_this<LiveSession> {
 public:
  LiveSession(std::shared_ptr<HttpsServer::State> state, beast::ssl_stream<beast::tcp_stream> stream, LiveClient client)
      : state_(std::move(state)), ws_(std::move(stream)), client_(std::move(client)), lifetime_(state_->io) {
    ++state_->connections;
  }
  ~LiveSession() { --state_->connections; }

  void run(Request req) {
    // Websocket timers replace the TCP stream's: pings keep a quiet connection alive and find a
    // dead one; the handshake has its own deadline.
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout opt{};
    opt.handshake_timeout = state_->limits.handshake_timeout;
    opt.idle_timeout = state_->limits.live_idle_timeout;
    opt.keep_alive_pings = true;
    ws_.set_option(opt);
    ws_.read_message_max(4096);
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, kServerName);
      res.set(http::field::strict_transport_security, "max-age=31536000");
    }));
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void send(const std::shared_ptr<const std::string>& message) {
    if (closing_) return;
    if (queue_.size() >= state_->limits.live_queue) {
      // A client that cannot keep up is dropped rather than waited for: alarms for everyone else
      // must not queue behind it. The page reconnects and refetches.
      state_->note(4, "live client " + client_.operator_name + " dropped: " + std::to_string(queue_.size()) +
                          " messages waiting");
      drop();
      return;
    }
    queue_.push_back(message);
    if (!writing_) do_write();
  }

  /// Graceful close (logout, operator disabled, server stop).
  void close() {
    if (closing_) return;
    closing_ = true;
    lifetime_.cancel();
    queue_.clear();
    if (!accepted_) {
      drop();
      return;
    }
    ws_.async_close(websocket::close_code::policy_error, [self = shared_from_this()](beast::error_code) {});
  }

  /// Immediate close of the socket; pending operations fail and release the session.
  void drop() {
    closing_ = true;
    lifetime_.cancel();
    queue_.clear();
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  [[nodiscard]] const LiveClient& client() const { return client_; }
  [[nodiscard]] bool open() const { return accepted_ && !closing_; }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return;
    accepted_ = true;
    state_->live_sessions.push_back(weak_from_this());
    // The socket ends with its session's absolute lifetime (logout and disabling end it earlier).
    lifetime_.expires_after(std::max(client_.lifetime, core::Duration{0}));
    lifetime_.async_wait([weak = weak_from_this()](beast::error_code wait_ec) {
      if (auto self = weak.lock(); self && !wait_ec) self->close();
    });
    send(std::make_shared<const std::string>(nlohmann::json{
        {"type", "hello"},
        {"operator", client_.operator_name},
        {"role", to_string(client_.role)}}.dump()));
    do_read();
  }

  void do_read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->closing_ = true;
        return;
      }
      // Clients have nothing to say on this socket; what they send is read and discarded.
      self->buffer_.clear();
      self->do_read();
    });
  }

  void do_write() {
    if (queue_.empty() || closing_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(*queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->writing_ = false;
        self->closing_ = true;
        self->queue_.clear();
        return;
      }
      if (!self->queue_.empty()) self->queue_.pop_front();
      self->do_write();
    });
  }

  std::shared_ptr<HttpsServer::State> state_;
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws_;
  LiveClient client_;
  beast::flat_buffer buffer_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool writing_ = false;
  bool closing_ = false;
  bool accepted_ = false;
  net::steady_timer lifetime_;
};

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(std::shared_ptr<HttpsServer::State> state, tcp::socket socket)
      : state_(std::move(state)), stream_(std::move(socket), *state_->ssl) {
    ++state_->connections;
    beast::error_code ec;
    const auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    peer_ = ec ? std::string("unknown") : ep.address().to_string();
  }
  ~HttpSession() { --state_->connections; }

  void run() {
    beast::get_lowest_layer(stream_).expires_after(state_->limits.handshake_timeout);
    stream_.async_handshake(net::ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

  void close_now() {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().close(ec);
  }

 private:
  void on_handshake(beast::error_code ec) {
    // Plain HTTP, a port scan or a client refusing our certificate: nothing to answer.
    if (ec) return;
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(state_->limits.body_limit);
    parser_->header_limit(state_->limits.header_limit);
    buffer_.max_size(state_->limits.header_limit + state_->limits.body_limit + 4096);
    beast::get_lowest_layer(stream_).expires_after(state_->limits.request_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::ssl::error::stream_truncated) {
      do_close();
      return;
    }
    if (ec == beast::error::timeout) return;  // the stream is closed already; nothing to say
    if (ec == http::error::body_limit || ec == beast::http::error::buffer_overflow) {
      reply_error(http::status::payload_too_large, "too_large",
                  "the request body exceeds " + std::to_string(state_->limits.body_limit) + " bytes");
      return;
    }
    if (ec == http::error::header_limit) {
      reply_error(http::status::request_header_fields_too_large, "headers_too_large",
                  "the request headers are too large");
      return;
    }
    if (ec) {
      if (ec.category() == beast::error_code(http::error::bad_target).category()) {
        reply_error(http::status::bad_request, "bad_request", "malformed HTTP request");
      }
      return;
    }
    Request req = parser_->release();
    parser_.reset();
    if (req.version() != 11 && req.version() != 10) {
      reply_error(http::status::bad_request, "bad_request", "HTTP/1.1 only");
      return;
    }
    const std::string_view target = sv(req.target());
    if (target.empty() || target.front() != '/') {
      reply_error(http::status::bad_request, "bad_request", "the request target must be a path");
      return;
    }
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;
    const std::string_view path = target.substr(0, target.find('?'));
    api_ = path.substr(0, 5) == "/api/" || path == "/api";

    if (path == "/api/v1/live") {
      upgrade(std::move(req));
      return;
    }
    if (api_) {
      // Requests on one connection are answered in order: no read until this one is answered.
      state_->api.handle(std::move(req), peer_, [self = shared_from_this()](ApiResponse res) {
        std::visit([&self](auto& r) { self->send(std::move(r)); }, res);
      });
      return;
    }
    serve_asset(req);
  }

  void upgrade(Request req) {
    if (!websocket::is_upgrade(req)) {
      reply_error(http::status::bad_request, "websocket_required", "this route is a WebSocket");
      return;
    }
    auto admitted = state_->api.admit_live(req);
    if (auto* refusal = std::get_if<Response>(&admitted)) {
      keep_alive_ = false;
      send(std::move(*refusal));
      return;
    }
    std::size_t live = 0;
    for (const auto& w : state_->live_sessions) {
      if (auto s = w.lock(); s && s->open()) ++live;
    }
    if (live >= state_->limits.max_live) {
      keep_alive_ = false;
      reply_error(http::status::too_many_requests, "busy", "too many live clients");
      return;
    }
    auto session = std::make_shared<LiveSession>(state_, std::move(stream_), std::get<LiveClient>(std::move(admitted)));
    session->run(std::move(req));
  }

  void serve_asset(const Request& req) {
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      Response res = Api::error_response(req, http::status::method_not_allowed, "method_not_allowed",
                                         "this route allows GET, HEAD");
      res.set(http::field::allow, "GET, HEAD");
      send(std::move(res));
      return;
    }
    std::optional<Asset> asset;
    if (!state_->assets_root.empty()) asset = resolve_asset(state_->assets_root, sv(req.target()));
    std::optional<std::string> data;
    if (asset) data = read_asset(asset->file, state_->limits.asset_limit);
    if (!data) {
      Response res{http::status::not_found, req.version()};
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "not found\n";
      send(std::move(res));
      return;
    }
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, std::string(asset->mime));
    res.body() = std::move(*data);
    send(std::move(res));
  }

  void reply_error(http::status status, std::string_view code, const std::string& message) {
    Request dummy;
    dummy.version(11);
    keep_alive_ = false;
    api_ = true;
    send(Api::error_response(dummy, status, code, message));
  }

  void send(Response res) {
    add_security_headers(res, api_);
    res.keep_alive(keep_alive_ && !state_->stopped);
    res.prepare_payload();
    if (head_) {
      // HEAD: the headers of GET, Content-Length included, without the body.
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    response_ = std::make_shared<Response>(std::move(res));
    beast::get_lowest_layer(stream_).expires_after(state_->limits.write_timeout);
    auto sr = std::make_shared<http::response_serializer<http::string_body>>(*response_);
    if (head_) sr->split(true);
    const auto on_write = [self = shared_from_this(), sr](beast::error_code ec, std::size_t) {
      if (ec) return;
      if (!self->response_->keep_alive()) {
        self->do_close();
        return;
      }
      self->response_.reset();
      self->do_read();
    };
    if (head_) {
      http::async_write_header(stream_, *sr, on_write);
    } else {
      http::async_write(stream_, *sr, on_write);
    }
  }

  void send(FileResponse res) {
    add_security_headers(res, api_);
    res.keep_alive(keep_alive_ && !state_->stopped);
    res.prepare_payload();  // Content-Length: the file's size
    file_response_ = std::make_shared<FileResponse>(std::move(res));
    file_sr_ = std::make_shared<http::response_serializer<http::file_body>>(*file_response_);
    if (head_) {
      beast::get_lowest_layer(stream_).expires_after(state_->limits.write_timeout);
      file_sr_->split(true);
      http::async_write_header(stream_, *file_sr_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->on_file_piece(ec);
      });
      return;
    }
    write_file_piece();
  }

  void write_file_piece() {
    // The deadline covers one piece, not the whole body: an export of hundreds of megabytes takes
    // as long as the client's link needs, but a client that stops reading is cut off after
    // write_timeout (the stream closes the socket), and the file's descriptor goes with the session.
    beast::get_lowest_layer(stream_).expires_after(state_->limits.write_timeout);
    http::async_write_some(stream_, *file_sr_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_file_piece(ec); });
  }

  void on_file_piece(beast::error_code ec) {
    if (ec) {
      // Half a body cannot be taken back: the connection ends here.
      release_file();
      close_now();
      return;
    }
    if (!head_ && !file_sr_->is_done()) {
      write_file_piece();
      return;
    }
    const bool keep = file_response_->keep_alive();
    release_file();
    if (!keep) {
      do_close();
      return;
    }
    do_read();
  }

  void release_file() {
    file_sr_.reset();
    file_response_.reset();
  }

  void do_close() {
    beast::get_lowest_layer(stream_).expires_after(state_->limits.handshake_timeout);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ec;
      beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(self->stream_).socket().close(ec);
    });
  }

  std::shared_ptr<HttpsServer::State> state_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Response> response_;
  std::shared_ptr<FileResponse> file_response_;  ///< an export being sent, its file open
  std::shared_ptr<http::response_serializer<http::file_body>> file_sr_;
  std::string peer_;
  bool keep_alive_ = false;
  bool head_ = false;
  bool api_ = false;
};

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

void HttpsServer::State::do_accept(const std::shared_ptr<State>& self) {
  acceptor.async_accept([self](beast::error_code ec, tcp::socket socket) {
    if (self->stopped || !self->acceptor.is_open()) return;
    if (ec) {
      // EMFILE and friends: keep accepting, but do not spin on a persistent error.
      self->note(4, "accept: " + ec.message());
    } else if (self->connections >= self->limits.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      // Responses go out in one piece as soon as they are written: without TCP_NODELAY a body
      // over one segment waits for the client's delayed ACK (~40 ms a page in console_bench).
      beast::error_code nodelay_ec;
      socket.set_option(tcp::no_delay(true), nodelay_ec);
      auto session = std::make_shared<HttpSession>(self, std::move(socket));
      self->http_sessions.remove_if([](const auto& w) { return w.expired(); });
      self->http_sessions.push_back(session);
      session->run();
    }
    self->do_accept(self);
  });
}

void HttpsServer::State::close_live(const std::string& session_id, const std::string& operator_name) {
  for (auto& w : live_sessions) {
    auto s = w.lock();
    if (!s) continue;
    const bool match =
        session_id.empty() ? s->client().operator_name == operator_name : s->client().session_id == session_id;
    if (match) s->close();
  }
}

HttpsServer::HttpsServer(net::io_context& io, ConsoleSettings settings, fs::path state_dir, Api& api,
                         ServerLimits limits, ServerLog log)
    : state_(std::make_shared<State>(io, std::move(settings), std::move(state_dir), api, limits, std::move(log))) {}

HttpsServer::~HttpsServer() { stop(); }

std::optional<std::string> HttpsServer::start() {
  State& s = *state_;
  const bool generated = s.settings.cert.empty() && s.settings.key.empty();
  if (!generated && (s.settings.cert.empty() || s.settings.key.empty())) {
    return "daemon.console: give both cert and key, or neither";
  }
  s.tls = generated ? TlsFiles{s.state_dir / "console-cert.pem", s.state_dir / "console-key.pem"}
                    : TlsFiles{s.settings.cert, s.settings.key};
  bool created = false;
  if (auto err = ensure_self_signed(s.tls, s.settings.host, generated, &created)) return "console TLS: " + *err;
  if (created) {
    s.note(5, "generated a self-signed certificate " + s.tls.cert.string() + " (SHA-256 " +
                  certificate_fingerprint(s.tls.cert) + ")");
  }
  try {
    s.ssl.emplace(make_server_context(s.tls));
  } catch (const std::exception& e) {
    return std::string("console TLS: ") + e.what();
  }

  s.assets_root.clear();
  if (!s.settings.assets.empty()) {
    std::error_code ec;
    auto root = fs::canonical(s.settings.assets, ec);
    if (ec || !fs::is_directory(root, ec)) {
      s.note(4, "assets directory " + s.settings.assets.string() + " is missing; serving the API only");
    } else {
      s.assets_root = root;
    }
  }

  beast::error_code ec;
  tcp::endpoint endpoint;
  const auto addr = net::ip::make_address(s.settings.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(addr, s.settings.port);
  } else {
    tcp::resolver resolver(s.io);
    auto results = resolver.resolve(s.settings.host, std::to_string(s.settings.port), ec);
    if (ec || results.empty()) return "console: cannot resolve " + s.settings.host + ": " + ec.message();
    endpoint = results.begin()->endpoint();
  }
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    return "console: cannot listen on " + s.settings.host + ":" + std::to_string(s.settings.port) + ": " + ec.message();
  }
  s.stopped = false;
  s.api.set_session_end_observer([weak = std::weak_ptr<State>(state_)](const std::string& id, const std::string& name) {
    if (auto st = weak.lock()) st->close_live(id, name);
  });
  s.do_accept(state_);
  return std::nullopt;
}

void HttpsServer::stop() {
  State& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  beast::error_code ec;
  s.acceptor.close(ec);
  for (auto& w : s.live_sessions) {
    if (auto l = w.lock()) l->drop();
  }
  for (auto& w : s.http_sessions) {
    if (auto h = w.lock()) h->close_now();
  }
  s.api.set_session_end_observer({});
}

std::uint16_t HttpsServer::port() const {
  beast::error_code ec;
  const auto ep = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

std::string HttpsServer::url() const {
  std::string host = state_->settings.host;
  if (host == "0.0.0.0" || host == "::") host = "localhost";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "https://" + host + ":" + std::to_string(port()) + "/";
}

const fs::path& HttpsServer::cert_file() const { return state_->tls.cert; }

void HttpsServer::broadcast(const nlohmann::json& message, Action audience) {
  auto text =
      std::make_shared<const std::string>(message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  auto& list = state_->live_sessions;
  for (auto it = list.begin(); it != list.end();) {
    auto s = it->lock();
    if (!s) {
      it = list.erase(it);
      continue;
    }
    if (s->open() && allowed(s->client().role, audience)) s->send(text);
    ++it;
  }
}

std::size_t HttpsServer::live_clients() const {
  std::size_t n = 0;
  for (const auto& w : state_->live_sessions) {
    if (auto s = w.lock(); s && s->open()) ++n;
  }
  return n;
}

std::size_t HttpsServer::connections() const { return state_->connections; }

}  // namespace zonegate::adapters::web
