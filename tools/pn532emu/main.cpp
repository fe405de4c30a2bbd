// SPDX-License-Identifier: Apache-2.0
// pn532emu: a PN532 on a pseudo-terminal, scripted by line commands on stdin and/or a FIFO.
// The command language is documented in tools/pn532emu/README.md.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "pn532emu/emulator.hpp"

namespace {

using zonegate::pn532emu::AesKey;
using zonegate::pn532emu::Aid;
using zonegate::pn532emu::Card;
using zonegate::pn532emu::DesfireApplication;
using zonegate::pn532emu::Emulator;
using zonegate::pn532emu::Fault;

const char* const kUsage =
    "usage: pn532emu [--link PATH] [--control FIFO] [--seed N] [--trace]\n"
    "Emulates a PN532 on a pseudo-terminal for libnfc's pn532_uart driver. Commands, one per line,\n"
    "on stdin and on FIFO (see tools/pn532emu/README.md):\n"
    "  uid HEXUID | desfire HEXUID AID KEY0 [KEY1…] | remove | fault NAME [COUNT] | hang | resume |\n"
    "  clear | stats | help | quit\n";

std::optional<std::vector<std::uint8_t>> parse_hex(const std::string& s) {
  if (s.empty() || s.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    unsigned v = 0;
    for (std::size_t j = i; j < i + 2; ++j) {
      const char c = s[j];
      unsigned d = 0;
      if (c >= '0' && c <= '9') {
        d = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<unsigned>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
      v = v * 16 + d;
    }
    out.push_back(static_cast<std::uint8_t>(v));
  }
  return out;
}

/// Runs one command line; returns the reply line. Sets `quit` on "quit".
std::string execute(Emulator& emu, const std::string& line, bool& quit) {
  std::istringstream in(line);
  std::string cmd;
  if (!(in >> cmd) || cmd[0] == '#') return "";
  std::vector<std::string> args;
  for (std::string a; in >> a;) args.push_back(a);

  if (cmd == "uid" && args.size() == 1) {
    const auto uid = parse_hex(args[0]);
    if (!uid || (uid->size() != 4 && uid->size() != 7 && uid->size() != 10))
      return "error: UID must be 4, 7 or 10 hex bytes";
    emu.present(Card::uid_only(*uid));
    return "ok";
  }
  if (cmd == "desfire" && args.size() >= 3) {
    const auto uid = parse_hex(args[0]);
    const auto aid = parse_hex(args[1]);
    if (!uid || (uid->size() != 4 && uid->size() != 7)) return "error: UID must be 4 or 7 hex bytes";
    if (!aid || aid->size() != 3) return "error: AID must be 3 hex bytes (wire order)";
    DesfireApplication app;
    app.aid = Aid{(*aid)[0], (*aid)[1], (*aid)[2]};
    for (std::size_t i = 2; i < args.size(); ++i) {
      const auto key = parse_hex(args[i]);
      if (!key || key->size() != 16) return "error: keys are 16 hex bytes";
      AesKey k{};
      std::copy(key->begin(), key->end(), k.begin());
      app.aes_keys.push_back(k);
    }
    emu.present(Card::desfire_ev1(*uid, {app}));
    return "ok";
  }
  if (cmd == "remove" && args.empty()) {
    emu.remove_card();
    return "ok";
  }
  if (cmd == "fault" && (args.size() == 1 || args.size() == 2)) {
    const auto fault = zonegate::pn532emu::fault_from_string(args[0]);
    if (!fault) return "error: unknown fault " + args[0];
    unsigned count = 1;
    if (args.size() == 2) {
      try {
        count = static_cast<unsigned>(std::stoul(args[1]));
      } catch (const std::exception&) {
        return "error: COUNT must be a number";
      }
    }
    emu.arm(*fault, count);
    return "ok";
  }
  if (cmd == "hang" && args.empty()) {
    emu.hang();
    return "ok";
  }
  if (cmd == "resume" && args.empty()) {
    emu.resume();
    return "ok";
  }
  if (cmd == "clear" && args.empty()) {
    emu.clear_faults();
    return "ok";
  }
  if (cmd == "stats" && args.empty()) {
    const auto s = emu.stats();
    std::ostringstream o;
    o << "frames=" << s.host_frames << " bad_frames=" << s.bad_host_frames << " acks=" << s.host_acks
      << " nacks=" << s.host_nacks << " opens=" << s.diagnose << " polls=" << s.polls
      << " exchanges=" << s.data_exchanges << " auth_ok=" << s.auth_ok << " auth_failed=" << s.auth_failed
      << " faults_fired=" << s.faults_fired << " hung=" << (emu.hung() ? 1 : 0);
    return o.str();
  }
  if (cmd == "help") return kUsage;
  if (cmd == "quit" || cmd == "exit") {
    quit = true;
    return "ok";
  }
  return "error: unknown command or wrong arguments (try help)";
}

/// Splits what arrived on one input into lines.
struct LineInput {
  int fd = -1;
  std::string partial;
};

}  // namespace

int main(int argc, char** argv) {
  Emulator::Options options;
  std::string fifo_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--link" && has_value) {
      options.link_path = argv[++i];
    } else if (a == "--control" && has_value) {
      fifo_path = argv[++i];
    } else if (a == "--seed" && has_value) {
      options.seed = static_cast<std::uint32_t>(std::strtoul(argv[++i], nullptr, 0));
    } else if (a == "--trace") {
      options.trace = true;
    } else {
      std::fputs(kUsage, a == "--help" || a == "-h" ? stdout : stderr);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }

  // SIGINT/SIGTERM end the run through the poll loop, so the symlink and FIFO are removed.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) return 1;  // before the emulator's thread starts
  const int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);

  try {
    Emulator emu(options);
    std::vector<LineInput> inputs{{STDIN_FILENO, {}}};
    if (!fifo_path.empty()) {
      if (::mkfifo(fifo_path.c_str(), 0600) != 0 && errno != EEXIST) {
        std::perror("pn532emu: mkfifo");
        return 1;
      }
      // O_RDWR keeps a writer open ourselves, so a client closing the FIFO is not an end of file.
      const int fd = ::open(fifo_path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) {
        std::perror("pn532emu: open control FIFO");
        return 1;
      }
      inputs.push_back({fd, {}});
    }
    std::printf("device %s\nconnstring %s\n", emu.device_path().c_str(), emu.connstring().c_str());
    std::fflush(stdout);

    bool quit = false;
    while (!quit) {
      std::vector<pollfd> fds;
      for (const auto& in : inputs) fds.push_back({in.fd, POLLIN, 0});
      fds.push_back({signal_fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if ((fds.back().revents & POLLIN) != 0) break;
      for (std::size_t i = 0; i < inputs.size() && !quit; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
        char buf[1024];
        const auto n = ::read(inputs[i].fd, buf, sizeof buf);
        if (n <= 0) {
          // stdin closed: keep serving if a control FIFO is there, else stop.
          if (inputs.size() == 1) quit = true;
          inputs.erase(inputs.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
        inputs[i].partial.append(buf, static_cast<std::size_t>(n));
        std::size_t nl = 0;
        while ((nl = inputs[i].partial.find('\n')) != std::string::npos && !quit) {
          const std::string line = inputs[i].partial.substr(0, nl);
          inputs[i].partial.erase(0, nl + 1);
          const std::string answer = execute(emu, line, quit);
          if (!answer.empty()) {
            std::printf("%s\n", answer.c_str());
            std::fflush(stdout);
          }
        }
        if (inputs[i].partial.size() > 4096) inputs[i].partial.clear();  // no newline in sight: drop it
      }
    }
    for (const auto& in : inputs) {
      if (in.fd != STDIN_FILENO) ::close(in.fd);
    }
    if (!fifo_path.empty()) ::unlink(fifo_path.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pn532emu: %s\n", e.what());
    return 1;
  }
  return 0;
}
