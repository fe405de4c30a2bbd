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

/// A boolean member: `fallback` if absent, nullopt if present but not a boolean (a client's
/// "yes" is an error to report, not a value to guess).
std::optional<bool> flag(const json& j, const char* key, bool fallback) {
  const auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_boolean()) return std::nullopt;
  return it->get<bool>();
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
    json request = json::parse(line, nullptr, false);
    if (request.is_discarded() || !request.is_object()) {
      reply(error("malformed request: expected one JSON object per line"), false);
      return;
    }
    // The answer may come later (after the commit). The callback holds the session, so it stays
    // valid if the client goes away meanwhile; the write then fails and the session ends. No read
    // is outstanding until the answer is written: one request at a time per connection.
    server_.handle(request, peer_, [self = shared_from_this()](json response) {
      if (!*self->alive_) return;
      self->reply(response, false);
    });
  }
  void reply(const json& response, bool close_after) {
    // Replies echo client text (names, ids), possibly cut inside a UTF-8 sequence: never throw.
    out_ = response.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
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
  // A stale socket of an earlier run is replaced; anything else at the path is left alone, so a
  // mistyped --control-socket cannot delete a file.
  std::error_code fec;
  const auto existing = std::filesystem::symlink_status(path_, fec);
  if (existing.type() == std::filesystem::file_type::socket) {
    std::filesystem::remove(path_, fec);
  } else if (existing.type() != std::filesystem::file_type::not_found) {
    return "control socket " + path_.string() + ": the path exists and is not a socket";
  }
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

json ControlServer::commit_answer(const CommitReport& report, const core::Policy& policy) {
  const auto door_name = [&](core::DoorIdx d) { return d < policy.doors.size() ? policy.doors[d].id : std::string(); };
  json records = json::array();
  json decision;  // null unless the input led to a decision
  adapters::audit::Seq first = 0;
  adapters::audit::Seq last = 0;
  const auto span = [&](adapters::audit::Seq seq) {
    if (seq == 0) return;
    first = first == 0 ? seq : std::min(first, seq);
    last = std::max(last, seq);
  };
  for (std::size_t i = 0; i < report.records.size(); ++i) {
    const adapters::audit::Seq seq = i < report.seqs.size() ? report.seqs[i] : 0;
    span(seq);
    json r;
    if (seq != 0) r["seq"] = seq;
    if (const auto* d = std::get_if<core::Decision>(&report.records[i])) {
      r.update(json{{"kind", "decision"},
                    {"request", d->request},
                    {"person", d->person},
                    {"badge", d->badge},
                    {"door", door_name(d->door)},
                    {"dir", core::to_string(d->dir)},
                    {"verdict", core::to_string(d->verdict)},
                    {"reason", core::to_string(d->reason)}});
      if (decision.is_null()) decision = r;
    } else if (const auto* a = std::get_if<core::Alarm>(&report.records[i])) {
      r.update(json{{"kind", "alarm"},
                    {"alarm", core::to_string(a->kind)},
                    {"severity", core::to_string(a->severity)},
                    {"source", a->source},
                    {"person", a->person},
                    {"detail", a->detail}});
    } else if (const auto* n = std::get_if<core::Note>(&report.records[i])) {
      r.update(json{{"kind", "note"}, {"event", n->kind}, {"subject", n->subject}, {"detail", n->detail}});
    }
    records.push_back(std::move(r));
  }
  for (const auto seq : report.entry_seqs) span(seq);
  json out = ok(json{{"observed", report.observed},
                     {"durable", report.durable},
                     {"records", records},
                     {"entries", report.entries},
                     {"entry_seqs", report.entry_seqs},
                     {"decision", decision}});
  if (first != 0) {
    out["seq_first"] = first;
    out["seq_last"] = last;
  }
  if (!report.durable) {
    // Never claim durability we do not have: the records exist only in the daemon's memory.
    out["queued"] = true;
    out["queued_reason"] = report.queued_reason;
  }
  return out;
}

void ControlServer::handle(const json& request, const Operator& peer, Reply reply) {
  const std::string cmd = str(request, "cmd");
  const core::Policy& p = controller_.engine().policy();
  // Answers once the records the input caused are committed (or queued while degraded). The
  // answer is built then, against the policy in force then.
  const auto after_commit = [this, &reply](json extra = json::object()) -> CommitHandler {
    return [this, reply, extra = std::move(extra)](const CommitReport& report) {
      json answer = commit_answer(report, controller_.engine().policy());
      for (const auto& [k, v] : extra.items()) answer[k] = v;
      reply(std::move(answer));
    };
  };
  // Refusals and errors answer at once; so does an accepted input without a waiter.
  const auto result = [&](const std::optional<std::string>& err) {
    if (err) reply(error(*err));
  };
  if (cmd == "status") return reply(ok(json{{"status", controller_.status()}}));
  if (cmd == "reload") {
    const bool done = reload_ ? reload_() : false;
    controller_.record_operator_action(peer, "reload_request", done ? "applied" : "rejected");
    return reply(done ? ok()
                      : error("reload rejected: the configuration has errors (see the log); the old policy stays"));
  }
  const bool makes_records = cmd == "ack" || cmd == "guard" || cmd.rfind("sim.", 0) == 0;
  if (makes_records && controller_.waiters() >= Controller::kMaxWaiters) {
    return reply(error("busy: too many requests awaiting their commit; try again"));
  }
  if (cmd == "ack") {
    auto it = request.find("id");
    if (it == request.end() || !it->is_number_unsigned()) return reply(error("ack needs a numeric 'id'"));
    return result(controller_.acknowledge(it->get<std::uint64_t>(), peer, str(request, "note"), after_commit()));
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
    if (!found) return reply(error("unknown guard action '" + action + "' (lockdown, lift, release, forgive, unlock)"));
    if (auto z = str(request, "zone"); !z.empty()) {
      auto idx = p.zone_index(z);
      if (!idx) return reply(error("unknown zone '" + z + "'"));
      g.zone = *idx;
    }
    if (auto d = str(request, "door"); !d.empty()) {
      auto idx = p.door_index(d);
      if (!idx) return reply(error("unknown door '" + d + "'"));
      g.door = *idx;
    }
    if (auto person = str(request, "person"); !person.empty()) g.person = person;
    g.note = str(request, "note");
    if (g.action == core::GuardAction::unlock && !g.door) return reply(error("unlock needs a door"));
    if (g.action == core::GuardAction::unlock && g.note.empty()) return reply(error("unlock needs a reason (note)"));
    // The decisions and notes are known now; the answer waits until they are on disk.
    auto shared = std::make_shared<json>();
    *shared = controller_.guard(g, peer, [this, reply, shared](const CommitReport& report) {
      json answer = commit_answer(report, controller_.engine().policy());
      answer["decisions"] = (*shared)["decisions"];
      answer["notes"] = (*shared)["notes"];
      reply(std::move(answer));
    });
    return;
  }
  if (cmd.rfind("sim.", 0) == 0) {
    controller_.record_operator_action(peer, "simulate", request.dump());
    if (cmd == "sim.tap") {
      const std::string dir = str(request, "dir", "in");
      const auto d = core::direction_from_string(dir);
      if (!d) return reply(error("dir must be in or out"));
      std::optional<core::CredentialKind> kind;
      if (auto k = str(request, "kind"); !k.empty()) {
        kind = core::credential_from_string(k);
        if (!kind) return reply(error("kind must be uid or desfire"));
      }
      const auto failed = flag(request, "auth_failed", false);
      if (!failed) return reply(error("auth_failed must be true or false"));
      const std::string door = str(request, "door");
      // A tap the reader dropped is an error; one that reached the engine is answered with its
      // decision (or, if the engine waits for a gate or a second person, with none yet).
      return result(controller_.sim_tap(
          str(request, "who"), door, *d, kind, *failed, [this, reply, door](const CommitReport& report) {
            if (!report.observed) return reply(error("the reader did not read the tap (it went offline or stopped)"));
            json answer = commit_answer(report, controller_.engine().policy());
            if (answer["decision"].is_null()) {
              json pending = json::array();
              const core::Policy& policy = controller_.engine().policy();
              for (const auto& pv : controller_.engine().pending()) {
                if (pv.door < policy.doors.size() && policy.doors[pv.door].id == door) {
                  pending.push_back({{"dir", core::to_string(pv.dir)},
                                     {"waiting_for", core::to_string(pv.waiting_for)},
                                     {"people", pv.people}});
                }
              }
              answer["pending"] = pending;
            }
            reply(std::move(answer));
          }));
    }
    if (cmd == "sim.gate") {
      const std::string s = str(request, "signal");
      if (s != "clear" && s != "alarm") return reply(error("signal must be clear or alarm"));
      return result(controller_.sim_gate(str(request, "gate"),
                                         s == "clear" ? core::GateSignalKind::clear : core::GateSignalKind::alarm,
                                         after_commit()));
    }
    if (cmd == "sim.door") {
      const std::string s = str(request, "state");
      if (s != "open" && s != "closed") return reply(error("state must be open or closed"));
      return result(controller_.sim_door(str(request, "door"), s == "open", after_commit()));
    }
    if (cmd == "sim.rex") return result(controller_.sim_rex(str(request, "door"), after_commit()));
    if (cmd == "sim.fire") {
      const auto on = flag(request, "on", false);
      if (!on) return reply(error("on must be true or false"));
      return result(controller_.sim_fire(*on, after_commit()));
    }
    if (cmd == "sim.tamper") {
      const auto on = flag(request, "on", true);
      if (!on) return reply(error("on must be true or false"));
      return result(controller_.sim_tamper(str(request, "id"), *on, after_commit()));
    }
    if (cmd == "sim.reader") {
      const auto online = flag(request, "online", true);
      if (!online) return reply(error("online must be true or false"));
      return result(controller_.sim_reader_online(str(request, "reader"), *online, after_commit()));
    }
  }
  return reply(error("unknown command '" + cmd + "'"));
}

}  // namespace zonegate::app
