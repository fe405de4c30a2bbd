// SPDX-License-Identifier: Apache-2.0
#include "zonegate/control_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iomanip>

#include "zonegate/cli_args.hpp"

namespace zonegate::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

/// Waits for `events` on fd until `deadline`; false with errno-like text in *why on timeout/error.
bool wait_for(int fd, short events, Clock::time_point deadline, std::string* why) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      *why = "timed out";
      return false;
    }
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc < 0) {
      if (errno == EINTR) continue;
      *why = std::strerror(errno);
      return false;
    }
    if (rc > 0) return true;
  }
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string join(const json& arr) {
  std::string out;
  if (!arr.is_array()) return out;
  for (const auto& v : arr) {
    if (!out.empty()) out += ", ";
    out += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

std::optional<json> fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return std::nullopt;
}

std::optional<bool> on_off(const std::string& text, const char* on, const char* off) {
  if (text == on) return true;
  if (text == off) return false;
  return std::nullopt;
}

}  // namespace

std::optional<json> control_request(const std::filesystem::path& socket_path, const json& request, std::string* error,
                                    std::chrono::milliseconds timeout) {
  const std::string path = socket_path.string();
  const auto unreachable = [&](const std::string& reason) {
    return fail(error, "cannot reach zonegated at " + path + ": " + reason +
                           " (is the daemon running? are you root or in its group?)");
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return unreachable("socket path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return unreachable(std::strerror(errno));
  const auto deadline = Clock::now() + timeout;
  std::string why;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) return unreachable(std::strerror(errno));
    if (!wait_for(fd.get(), POLLOUT, deadline, &why)) return unreachable(why);
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) so_error = errno;
    if (so_error != 0) return unreachable(std::strerror(so_error));
  }
  const std::string line = request.dump() + "\n";
  std::size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd.get(), POLLOUT, deadline, &why)) return fail(error, "sending to zonegated: " + why);
    } else {
      return fail(error, std::string("sending to zonegated: ") + std::strerror(errno));
    }
  }
  // The answer may take a moment (a reload compiles the policy): allow more time to read.
  const auto read_deadline = Clock::now() + std::max(timeout, std::chrono::milliseconds(30000));
  std::string answer;
  char buf[8192];
  constexpr std::size_t kMaxAnswer = 64U << 20U;
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      answer.append(buf, static_cast<std::size_t>(n));
      if (answer.find('\n') != std::string::npos) break;
      if (answer.size() > kMaxAnswer) return fail(error, "answer of zonegated too large");
    } else if (n == 0) {
      return fail(error, "zonegated closed the connection without answering");
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd.get(), POLLIN, read_deadline, &why)) return fail(error, "waiting for zonegated: " + why);
    } else {
      return fail(error, std::string("reading from zonegated: ") + std::strerror(errno));
    }
  }
  answer.resize(answer.find('\n'));
  json parsed = json::parse(answer, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return fail(error, "malformed answer from zonegated");
  return parsed;
}

std::optional<json> build_sim_request(const std::vector<std::string>& args, std::string* error) {
  if (args.empty()) return fail(error, "sim needs a subcommand: tap, gate, door, rex, fire, tamper, reader");
  const std::string& what = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  std::string perr;
  if (what == "tap") {
    auto p = parse_args(rest, {"--kind"}, {"--auth-failed"}, &perr);
    if (!p) return fail(error, perr);
    if (p->positional.size() != 3)
      return fail(error, "usage: zonegate sim tap PERSON|UID DOOR in|out [--kind uid|desfire] [--auth-failed]");
    const std::string& dir = p->positional[2];
    if (dir != "in" && dir != "out") return fail(error, "direction must be in or out, not '" + dir + "'");
    json r{{"cmd", "sim.tap"}, {"who", p->positional[0]}, {"door", p->positional[1]}, {"dir", dir}};
    if (auto k = p->get("--kind")) {
      if (*k != "uid" && *k != "desfire") return fail(error, "--kind must be uid or desfire");
      r["kind"] = *k;
    }
    if (p->has("--auth-failed")) r["auth_failed"] = true;
    return r;
  }
  auto p = parse_args(rest, {}, {}, &perr);
  if (!p) return fail(error, perr);
  const auto& pos = p->positional;
  if (what == "gate") {
    if (pos.size() != 2 || (pos[1] != "clear" && pos[1] != "alarm"))
      return fail(error, "usage: zonegate sim gate GATE clear|alarm");
    return json{{"cmd", "sim.gate"}, {"gate", pos[0]}, {"signal", pos[1]}};
  }
  if (what == "door") {
    if (pos.size() != 2 || (pos[1] != "open" && pos[1] != "closed"))
      return fail(error, "usage: zonegate sim door DOOR open|closed");
    return json{{"cmd", "sim.door"}, {"door", pos[0]}, {"state", pos[1]}};
  }
  if (what == "rex") {
    if (pos.size() != 1) return fail(error, "usage: zonegate sim rex DOOR");
    return json{{"cmd", "sim.rex"}, {"door", pos[0]}};
  }
  if (what == "fire") {
    const auto on = pos.size() == 1 ? on_off(pos[0], "on", "off") : std::nullopt;
    if (!on) return fail(error, "usage: zonegate sim fire on|off");
    return json{{"cmd", "sim.fire"}, {"on", *on}};
  }
  if (what == "tamper") {
    const auto on = pos.size() == 2 ? on_off(pos[1], "on", "off") : std::nullopt;
    if (!on) return fail(error, "usage: zonegate sim tamper ID on|off");
    return json{{"cmd", "sim.tamper"}, {"id", pos[0]}, {"on", *on}};
  }
  if (what == "reader") {
    const auto on = pos.size() == 2 ? on_off(pos[1], "online", "offline") : std::nullopt;
    if (!on) return fail(error, "usage: zonegate sim reader READER online|offline");
    return json{{"cmd", "sim.reader"}, {"reader", pos[0]}, {"online", *on}};
  }
  return fail(error, "unknown sim subcommand '" + what + "' (tap, gate, door, rex, fire, tamper, reader)");
}

std::optional<json> build_guard_request(const std::vector<std::string>& args, std::string* error) {
  if (args.empty()) return fail(error, "guard needs a subcommand: ack, release, forgive, lockdown, lift, unlock");
  const std::string& what = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  std::string perr;
  auto p = parse_args(rest, {"--note", "--person", "--door", "--zone"}, {}, &perr);
  if (!p) return fail(error, perr);
  const auto note = p->get("--note");
  const auto person = p->get("--person");
  const auto door = p->get("--door");
  const auto zone = p->get("--zone");
  const auto refuse = [&](const char* option) {
    return fail(error, std::string("guard ") + what + " does not take " + option);
  };
  if (what == "ack") {
    if (person) return refuse("--person");
    if (door) return refuse("--door");
    if (zone) return refuse("--zone");
    if (p->positional.size() != 1) return fail(error, "usage: zonegate guard ack ALARM_ID [--note TEXT]");
    const auto id = parse_count(p->positional[0], 1UL << 62U);
    if (!id) return fail(error, "alarm id must be a positive number, not '" + p->positional[0] + "'");
    json r{{"cmd", "ack"}, {"id", static_cast<std::uint64_t>(*id)}};
    if (note) r["note"] = *note;
    return r;
  }
  if (!p->positional.empty()) return fail(error, "guard " + what + ": unexpected argument '" + p->positional[0] + "'");
  json r{{"cmd", "guard"}, {"action", what}};
  if (what == "release") {
    if (zone) return refuse("--zone");
    if (person.has_value() == door.has_value())
      return fail(error, "usage: zonegate guard release (--person P | --door D) [--note TEXT]");
  } else if (what == "forgive") {
    if (door) return refuse("--door");
    if (!person) return fail(error, "usage: zonegate guard forgive --person P [--zone Z] [--note TEXT]");
  } else if (what == "lockdown" || what == "lift") {
    if (person) return refuse("--person");
    if (door) return refuse("--door");
  } else if (what == "unlock") {
    if (person) return refuse("--person");
    if (zone) return refuse("--zone");
    if (!door || !note || note->empty())
      return fail(error, "usage: zonegate guard unlock --door D --note REASON (the reason is mandatory)");
  } else {
    return fail(error, "unknown guard subcommand '" + what + "' (ack, release, forgive, lockdown, lift, unlock)");
  }
  if (person) r["person"] = *person;
  if (door) r["door"] = *door;
  if (zone) r["zone"] = *zone;
  if (note) r["note"] = *note;
  return r;
}

void print_status(std::ostream& out, const json& s) {
  out << "site " << str(s, "site") << ", gateway " << str(s, "gateway") << ", policy sha256 " << str(s, "policy_sha256")
      << '\n';
  out << "now " << str(s, "now") << ", up " << str(s, "uptime_s") << " s\n";
  out << "fire: " << (flag(s, "fire") ? "ACTIVE (doors released)" : "no") << '\n';
  const json audit = s.value("audit", json::object());
  out << "audit: last seq " << str(audit, "last_seq");
  if (flag(audit, "degraded")) {
    out << ", DEGRADED: " << str(audit, "reason") << " (backlog " << str(audit, "backlog") << ")";
  } else {
    out << ", ok";
  }
  out << '\n';

  out << "\ndoors:\n";
  for (const auto& d : s.value("doors", json::array())) {
    std::string state;
    if (flag(d, "forced")) state += " FORCED";
    if (flag(d, "held_alarm"))
      state += " HELD-OPEN";
    else if (flag(d, "held_prealarm"))
      state += " held-open-prealarm";
    if (flag(d, "fire_release")) state += " fire-release";
    out << "  " << std::left << std::setw(16) << str(d, "id") << std::setw(10)
        << (flag(d, "unlocked") ? "unlocked" : "locked") << (flag(d, "open") ? "open" : "closed") << state << '\n';
  }

  out << "\nzones (muster list):\n";
  for (const auto& z : s.value("zones", json::array())) {
    const std::string max = str(z, "max");
    out << "  " << std::left << std::setw(16) << str(z, "id") << str(z, "occupancy")
        << (max.empty() || max == "0" ? "" : "/" + max) << (flag(z, "lockdown") ? "  LOCKDOWN" : "");
    // Each person with the time they entered, when the daemon knows it (not across a restart).
    std::string people;
    const json since = z.value("since", json::object());
    for (const auto& p : z.value("people", json::array())) {
      if (!p.is_string()) continue;
      const std::string id = p.get<std::string>();
      if (!people.empty()) people += ", ";
      people += id;
      if (const std::string at = since.is_object() ? str(since, id.c_str()) : std::string(); !at.empty()) {
        people += " (since " + at + ")";
      }
    }
    if (!people.empty()) out << "  " << people;
    out << '\n';
  }
  const std::string unknown = join(s.value("unknown_locations", json::array()));
  out << "unknown location: " << (unknown.empty() ? "none" : unknown) << '\n';

  const json pending = s.value("pending", json::array());
  out << "\npending requests: " << (pending.empty() ? "none" : "") << '\n';
  for (const auto& pr : pending) {
    out << "  " << str(pr, "door") << " " << str(pr, "dir") << ": " << join(pr.value("people", json::array()))
        << " waiting for " << str(pr, "waiting_for") << " until " << str(pr, "deadline") << '\n';
  }
  const json held = s.value("held", json::array());
  out << "held: " << (held.empty() ? "none" : "") << '\n';
  for (const auto& h : held) {
    out << "  " << str(h, "person") << " at " << str(h, "door") << " since " << str(h, "since") << '\n';
  }

  const json alarms = s.value("alarms", json::array());
  out << "\nalarms: " << (alarms.empty() ? "none" : "") << '\n';
  for (const auto& a : alarms) {
    out << "  #" << str(a, "id") << " " << str(a, "kind") << " [" << str(a, "severity") << "] source "
        << str(a, "source");
    if (!str(a, "person").empty()) out << " person " << str(a, "person");
    out << " at " << str(a, "at");
    if (flag(a, "acknowledged")) {
      out << " acknowledged by " << str(a, "ack_by");
      if (!str(a, "ack_note").empty()) out << " (" << str(a, "ack_note") << ")";
    } else {
      out << " UNACKNOWLEDGED";
    }
    if (!str(a, "detail").empty()) out << " — " << str(a, "detail");
    out << '\n';
  }

  // Published by the upstream sync when it runs: how far the central database lags behind.
  if (const auto up = s.find("upstream"); up != s.end() && up->is_object()) {
    out << "\nupstream:\n";
    out << "  state " << str(*up, "state") << '\n';
    // A disabled sync reports only its state.
    if (up->contains("lag_records") || up->contains("lag_seconds")) {
      out << "  lag " << (str(*up, "lag_records").empty() ? "?" : str(*up, "lag_records")) << " records, "
          << (str(*up, "lag_seconds").empty() ? "?" : str(*up, "lag_seconds")) << " s (local seq "
          << str(*up, "local_seq") << ", central seq " << str(*up, "central_seq") << ")\n";
    }
    if (up->contains("last_error")) {
      const std::string last_error = str(*up, "last_error");
      out << "  last error: " << (last_error.empty() ? "none" : last_error) << '\n';
    }
  }

  const json readers = s.value("readers", json::array());
  out << "\nreaders: " << (readers.empty() ? "none" : "") << '\n';
  for (const auto& r : readers) {
    out << "  " << std::left << std::setw(24) << str(r, "id") << (flag(r, "online") ? "online" : "OFFLINE") << '\n';
  }
}

void print_guard_answer(std::ostream& out, const json& answer) {
  bool any = false;
  for (const auto& d : answer.value("decisions", json::array())) {
    out << "decision: " << str(d, "person") << " " << str(d, "verdict") << " (" << str(d, "reason") << ")\n";
    any = true;
  }
  for (const auto& n : answer.value("notes", json::array())) {
    out << "note: " << str(n, "kind") << " " << str(n, "subject");
    if (!str(n, "detail").empty()) out << ": " << str(n, "detail");
    out << '\n';
    any = true;
  }
  if (answer.contains("durable")) {
    print_commit(out, answer);
  } else if (!any) {
    out << "ok\n";
  }
}

void print_sim_answer(std::ostream& out, const json& answer) {
  const auto d = answer.find("decision");
  if (d != answer.end() && d->is_object()) {
    const std::string who = str(*d, "person").empty() ? "badge " + str(*d, "badge") : str(*d, "person");
    out << "decision: " << who << " " << str(*d, "verdict") << " (" << str(*d, "reason") << ") at " << str(*d, "door")
        << " " << str(*d, "dir") << ", request " << str(*d, "request");
    if (!str(*d, "seq").empty()) out << ", seq " << str(*d, "seq");
    out << '\n';
  } else {
    for (const auto& p : answer.value("pending", json::array())) {
      out << "no decision yet: " << join(p.value("people", json::array())) << " waiting for " << str(p, "waiting_for")
          << '\n';
    }
  }
  print_commit(out, answer);
}

void print_commit(std::ostream& out, const json& answer) {
  if (!answer.contains("durable")) {
    out << "ok\n";
    return;
  }
  if (answer.contains("observed") && !flag(answer, "observed")) {
    out << "no change: the input caused no event (the line already had that level?)\n";
    return;
  }
  if (!flag(answer, "durable")) {
    out << "NOT durable: queued in zonegated's memory, the audit trail is degraded (" << str(answer, "queued_reason")
        << ")\n";
    return;
  }
  const std::string first = str(answer, "seq_first");
  const std::string last = str(answer, "seq_last");
  if (first.empty()) {
    out << "ok (nothing recorded)\n";
  } else if (first == last) {
    out << "recorded at seq " << first << " (durable)\n";
  } else {
    out << "recorded at seq " << first << ".." << last << " (durable)\n";
  }
}

}  // namespace zonegate::cli
