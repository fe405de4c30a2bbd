// SPDX-License-Identifier: Apache-2.0
#include "app/control_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <istream>

#include "app/log.hpp"

namespace zonegate::app {
namespace {

using nlohmann::json;
using stream = boost::asio::local::stream_protocol;

constexpr core::CapabilityMask kAllCaps =
    core::cap_bit(core::Capability::forgive) | core::cap_bit(core::Capability::release) |
    core::cap_bit(core::Capability::lockdown) | core::cap_bit(core::Capability::unlock);

json error(const std::string& message) { return json{{"ok", false}, {"error", message}}; }
json ok(json body = json::object()) {
  body["ok"] = true;
  return body;
}

std::string str(const json& j, const char* key, const std::string& fallback = {}) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

Operator peer_operator(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return Operator{"unix:unknown", 0};
  std::string name = "uid" + std::to_string(cred.uid);
  passwd pw{};
  passwd* result = nullptr;
  char buf[1024];
  if (getpwuid_r(cred.uid, &pw, buf, sizeof buf, &result) == 0 && result != nullptr) name = result->pw_name;
  // Whoever the kernel lets onto the socket (root, or the configured group) is a local operator
  // with every guard capability; the audit trail names them by their account.
  return Operator{"unix:" + name, kAllCaps};
}

}  // namespace

class ControlServer::Session : public std::enable_shared_from_this<ControlServer::Session> {
 public:
  Session(ControlServer& server, stream::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        buffer_(kMaxRequestBytes),
        alive_(server.alive_) {
    peer_ = peer_operator(socket_.native_handle());
  }
  void start() { do_read(); }

 private:
  void do_read() {
    // Idle sessions are closed: every I/O has a timeout.
    timer_.expires_after(std::chrono::seconds(60));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->socket_.close();
    });
    boost::asio::async_read_until(
        socket_, buffer_, '\n',
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) { self->on_read(ec, n); });
  }
  void on_read(const boost::system::error_code& ec, std::size_t n) {
    timer_.cancel();
    if (!*alive_) return;
    if (ec) {
      if (ec == boost::asio::error::not_found) {
        reply(error("request too large (limit " + std::to_string(kMaxRequestBytes) + " bytes)"), true);
      } else {
        finish();
      }
      return;
    }
    std::string line(boost::asio::buffers_begin(buffer_.data()),
                     boost::asio::buffers_begin(buffer_.data()) + static_cast<std::ptrdiff_t>(n));
    buffer_.consume(n);
    json response;
    json request = json::parse(line, nullptr, false);
    if (request.is_discarded() || !request.is_object()) {
      response = error("malformed request: expected one JSON object per line");
    } else {
      response = server_.handle(request, peer_);
    }
    reply(response, false);
  }
  void reply(const json& response, bool close_after) {
    out_ = response.dump() + "\n";
    timer_.expires_after(std::chrono::seconds(10));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->socket_.close();
    });
    boost::asio::async_write(
        socket_, boost::asio::buffer(out_),
        [self = shared_from_this(), close_after](const boost::system::error_code& ec, std::size_t) {
          self->timer_.cancel();
          if (ec || close_after || !*self->alive_) {
            self->finish();
            return;
          }
          self->do_read();
        });
  }
  void finish() {
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (*alive_ && !finished_) {
      finished_ = true;
      --server_.sessions_;
    }
  }

  ControlServer& server_;
  stream::socket socket_;
  boost::asio::steady_timer timer_;
  boost::asio::streambuf buffer_;
  std::string out_;
  Operator peer_;
  std::shared_ptr<bool> alive_;
  bool finished_ = false;
};

ControlServer::ControlServer(boost::asio::io_context& io, Controller& controller, std::filesystem::path socket_path,
                             std::string group, std::function<bool()> reload)
    : io_(io),
      controller_(controller),
      path_(std::move(socket_path)),
      group_(std::move(group)),
      reload_(std::move(reload)),
      acceptor_(io),
      alive_(std::make_shared<bool>(true)) {}

ControlServer::~ControlServer() {
  *alive_ = false;
  stop();
}

std::optional<std::string> ControlServer::start() {
  std::error_code fec;
  std::filesystem::remove(path_, fec);
  boost::system::error_code ec;
  acceptor_.open(stream(), ec);
  // The socket is created with no access for others; permissions are set before listen().
  const mode_t old = umask(0117);
  if (!ec) acceptor_.bind(stream::endpoint(path_.string()), ec);
  umask(old);
  if (ec) return "control socket " + path_.string() + ": " + ec.message();
  if (!group_.empty()) {
    group g{};
    group* result = nullptr;
    char buf[1024];
    if (getgrnam_r(group_.c_str(), &g, buf, sizeof buf, &result) != 0 || result == nullptr) {
      // Fail closed: without the group the socket stays root-only.
      Log::warning("control socket group '" + group_ + "' does not exist; the socket is root-only");
      group_.clear();
    } else if (chown(path_.c_str(), static_cast<uid_t>(-1), g.gr_gid) != 0) {
      return "control socket: chown to group " + group_ + ": " + std::strerror(errno);
    }
  }
  if (chmod(path_.c_str(), group_.empty() ? 0600 : 0660) != 0) {
    return "control socket: chmod: " + std::string(std::strerror(errno));
  }
  acceptor_.listen(8, ec);
  if (ec) return "control socket listen: " + ec.message();
  do_accept();
  return std::nullopt;
}

void ControlServer::stop() {
  boost::system::error_code ec;
  if (acceptor_.is_open()) {
    acceptor_.close(ec);
    std::error_code fec;
    std::filesystem::remove(path_, fec);
  }
}

void ControlServer::do_accept() {
  acceptor_.async_accept([this, alive = alive_](const boost::system::error_code& ec, stream::socket socket) {
    if (!*alive || ec == boost::asio::error::operation_aborted) return;
    if (!ec) {
      if (sessions_ >= kMaxSessions) {
        // Bounded: a flood of clients cannot exhaust the daemon.
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        ++sessions_;
        std::make_shared<Session>(*this, std::move(socket))->start();
      }
    }
    do_accept();
  });
}

json ControlServer::handle(const json& request, const Operator& peer) {
  const std::string cmd = str(request, "cmd");
  const core::Policy& p = controller_.engine().policy();
  const auto result = [](const std::optional<std::string>& err) { return err ? error(*err) : ok(); };
  if (cmd == "status") return ok(json{{"status", controller_.status()}});
  if (cmd == "reload") {
    const bool done = reload_ ? reload_() : false;
    controller_.record_operator_action(peer, "reload_request", done ? "applied" : "rejected");
    return done ? ok() : error("reload rejected: the configuration has errors (see the log); the old policy stays");
  }
  if (cmd == "ack") {
    auto it = request.find("id");
    if (it == request.end() || !it->is_number_unsigned()) return error("ack needs a numeric 'id'");
    return result(controller_.acknowledge(it->get<std::uint64_t>(), peer, str(request, "note")));
  }
  if (cmd == "guard") {
    static const std::pair<const char*, core::GuardAction> kActions[] = {{"lockdown", core::GuardAction::lockdown},
                                                                         {"lift", core::GuardAction::lift},
                                                                         {"release", core::GuardAction::release},
                                                                         {"forgive", core::GuardAction::forgive},
                                                                         {"unlock", core::GuardAction::unlock}};
    const std::string action = str(request, "action");
    core::GuardCommand g;
    bool found = false;
    for (const auto& [name, a] : kActions) {
      if (action == name) {
        g.action = a;
        found = true;
      }
    }
    if (!found) return error("unknown guard action '" + action + "' (lockdown, lift, release, forgive, unlock)");
    if (auto z = str(request, "zone"); !z.empty()) {
      auto idx = p.zone_index(z);
      if (!idx) return error("unknown zone '" + z + "'");
      g.zone = *idx;
    }
    if (auto d = str(request, "door"); !d.empty()) {
      auto idx = p.door_index(d);
      if (!idx) return error("unknown door '" + d + "'");
      g.door = *idx;
    }
    if (auto person = str(request, "person"); !person.empty()) g.person = person;
    g.note = str(request, "note");
    if (g.action == core::GuardAction::unlock && !g.door) return error("unlock needs a door");
    if (g.action == core::GuardAction::unlock && g.note.empty()) return error("unlock needs a reason (note)");
    return ok(controller_.guard(g, peer));
  }
  if (cmd.rfind("sim.", 0) == 0) {
    controller_.record_operator_action(peer, "simulate", request.dump());
    if (cmd == "sim.tap") {
      const std::string dir = str(request, "dir", "in");
      const auto d = core::direction_from_string(dir);
      if (!d) return error("dir must be in or out");
      std::optional<core::CredentialKind> kind;
      if (auto k = str(request, "kind"); !k.empty()) {
        kind = core::credential_from_string(k);
        if (!kind) return error("kind must be uid or desfire");
      }
      const bool failed = request.value("auth_failed", false);
      return result(controller_.sim_tap(str(request, "who"), str(request, "door"), *d, kind, failed));
    }
    if (cmd == "sim.gate") {
      const std::string s = str(request, "signal");
      if (s != "clear" && s != "alarm") return error("signal must be clear or alarm");
      return result(controller_.sim_gate(str(request, "gate"),
                                         s == "clear" ? core::GateSignalKind::clear : core::GateSignalKind::alarm));
    }
    if (cmd == "sim.door") {
      const std::string s = str(request, "state");
      if (s != "open" && s != "closed") return error("state must be open or closed");
      return result(controller_.sim_door(str(request, "door"), s == "open"));
    }
    if (cmd == "sim.rex") return result(controller_.sim_rex(str(request, "door")));
    if (cmd == "sim.fire") return result(controller_.sim_fire(request.value("on", false)));
    if (cmd == "sim.tamper") return result(controller_.sim_tamper(str(request, "id"), request.value("on", true)));
    if (cmd == "sim.reader") {
      return result(controller_.sim_reader_online(str(request, "reader"), request.value("online", true)));
    }
  }
  return error("unknown command '" + cmd + "'");
}

}  // namespace zonegate::app
