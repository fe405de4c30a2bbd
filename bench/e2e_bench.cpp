// SPDX-License-Identifier: Apache-2.0
// End-to-end badge -> strike latency through the real Controller, against the raw fsync latency of
// the same disk measured in the same run.
//
// In process: one io_context, SystemClock, the real AuditStore (SQLite WAL, synchronous=FULL) and
// CredentialStore in --dir, SimReader taps in, SimLines out with an observer on the lobby strike.
// A guard (always allowed) with a UID badge alternates lobby:in and lobby:out. Each iteration:
//   1. e2e sample: steady_clock before SimReader::tap(), then the io_context runs until the
//      SimLines observer sees the lobby strike driven active (the grant was committed first);
//   2. the door sensor is injected open, then closed, and the loop runs until the engine has seen
//      the door closed and the strike relocked (the person has passed; no anti-passback);
//   3. fsync sample: pwrite of 200 bytes into a preallocated file in the same directory, then
//      fdatasync (what SQLite does to the reused WAL on each commit with synchronous=FULL).
// Usage: e2e_bench [--iterations N] [--dir PATH] [--zones PATH] [--debounce-ms N] [--keep]
#include <fcntl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "app/controller.hpp"
#include "app/log.hpp"
#include "app/system_clock.hpp"
#include "config/loader.hpp"
#include "sim/sim_lines.hpp"
#include "sim/sim_reader.hpp"

namespace {

using namespace zonegate;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

constexpr long kTmpfsMagic = 0x01021994;
constexpr const char* kBadge = "04A1B2C3D4E5F6";
constexpr std::size_t kFsyncBytes = 200;
constexpr std::size_t kFsyncFileBytes = 1 << 20;

struct Args {
  std::size_t iterations = 2000;
  fs::path dir;
  std::string zones = "zones.yaml";
  int debounce_ms = 1;
  bool keep = false;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: e2e_bench [--iterations N] [--dir PATH] [--zones PATH] [--debounce-ms N] [--keep]\n"
               "  --dir PATH       state directory (default: a new e2e-bench-XXXXXX under the current directory;\n"
               "                   it must be on the disk under test, not tmpfs)\n"
               "  --debounce-ms N  debounce of the lobby door sensor (default 1; zones.yaml says 30). Only the\n"
               "                   door cycle between samples waits for it; it is not on the measured path.\n"
               "  --keep           keep the state directory\n");
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--keep") {
      a.keep = true;
      continue;
    }
    if (k == "--help" || k == "-h" || i + 1 >= argc) usage();
    const std::string v = argv[++i];
    if (k == "--iterations") {
      a.iterations = std::strtoul(v.c_str(), nullptr, 10);
      if (a.iterations == 0) usage();
    } else if (k == "--dir") {
      a.dir = v;
    } else if (k == "--zones") {
      a.zones = v;
    } else if (k == "--debounce-ms") {
      a.debounce_ms = std::atoi(v.c_str());
    } else {
      usage();
    }
  }
  return a;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "e2e_bench: %s\n", what.c_str());
  std::exit(1);
}

double us(Steady::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Stats {
  double p50, p90, p99, max;
};

/// Nearest-rank percentiles.
Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto rank = [&](double p) {
    auto r = static_cast<std::size_t>(p * static_cast<double>(v.size()) + 0.999999);
    return v[std::clamp<std::size_t>(r, 1, v.size()) - 1];
  };
  return Stats{rank(0.50), rank(0.90), rank(0.99), v.back()};
}

void print(const char* name, const Stats& s) {
  std::printf("%-26s p50 %9.1f us  p90 %9.1f us  p99 %9.1f us  max %9.1f us\n", name, s.p50, s.p90, s.p99, s.max);
}

/// Runs the loop one handler at a time until `done` holds; false after `limit` without it.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto deadline = Steady::now() + limit;
  io.restart();
  while (!done()) {
    if (Steady::now() >= deadline) return false;
    io.run_one_for(std::chrono::milliseconds(50));
    if (io.stopped()) io.restart();
  }
  return true;
}

std::string fs_type(const fs::path& dir) {
  struct statfs sf {};
  if (::statfs(dir.c_str(), &sf) != 0) return "unknown";
  if (static_cast<long>(sf.f_type) == kTmpfsMagic) return "tmpfs";
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(sf.f_type));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Args a = parse(argc, argv);
  app::Log::init(app::LogLevel::warning);

  bool own_dir = false;
  if (a.dir.empty()) {
    std::string tmpl = (fs::current_path() / "e2e-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) die("cannot create a directory under " + fs::current_path().string());
    a.dir = tmpl;
    own_dir = true;
  } else {
    std::error_code ec;
    fs::create_directories(a.dir, ec);
    if (ec) die(a.dir.string() + ": " + ec.message());
  }
  const std::string type = fs_type(a.dir);
  std::printf("e2e_bench: %zu iterations in %s (file system type %s)\n", a.iterations, a.dir.c_str(), type.c_str());
  if (type == "tmpfs")
    std::printf("WARNING: %s is tmpfs: fsync costs nothing there; pass --dir on a disk\n", a.dir.c_str());

  // --- the site, with the lobby sensor's debounce shortened (see usage) ----------------------
  config::LoadResult cfg = config::load_policy_file(a.zones);
  if (!cfg.ok()) die(a.zones + ": " + (cfg.errors.empty() ? "invalid" : cfg.errors.front().to_string()));
  auto hw = std::make_shared<config::HardwareConfig>(*cfg.hardware);
  hw->readers = config::ReaderBackend::sim;
  hw->gpio = config::GpioBackend::sim;
  const config::DoorHardware* lobby = nullptr;
  for (auto& d : hw->doors) {
    if (d.door == "lobby") {
      d.sensor->debounce = std::chrono::milliseconds(a.debounce_ms);
      lobby = &d;
    }
  }
  if (lobby == nullptr || !lobby->strike || !lobby->sensor) die("zones.yaml has no lobby with a strike and a sensor");
  cfg.hardware = hw;
  const std::string strike = lobby->strike->name;
  const std::string sensor = lobby->sensor->name;
  const core::DoorIdx lobby_idx = lobby->index;

  // --- adapters ------------------------------------------------------------------------------
  adapters::audit::Options ao;
  ao.state_dir = a.dir;
  ao.gateway_id = cfg.daemon->gateway_id;
  ao.checkpoint_every_records = cfg.daemon->checkpoint_every;
  ao.checkpoint_every = cfg.daemon->checkpoint_interval;
  auto audit = adapters::audit::AuditStore::open(ao);
  if (!audit) die("audit trail: " + audit.error().message);
  auto creds = adapters::credentials::CredentialStore::open(a.dir / "credentials.db");
  if (!creds) die("credential store: " + creds.error().message);

  app::SystemClock clock;
  if (auto r =
          (*creds)->put_person(adapters::credentials::Person{"bench-guard", "Bench Guard", {"guard"}}, clock.now());
      !r) {
    die("enrol: " + r.error().message);
  }
  adapters::credentials::Badge badge;
  badge.uid = kBadge;
  badge.person = "bench-guard";
  badge.kind = core::CredentialKind::uid;
  if (auto r = (*creds)->add(badge, clock.now()); !r) die("enrol: " + r.error().message);

  boost::asio::io_context io(1);
  std::vector<std::string> names = hw->all_input_names();
  for (auto& n : hw->all_output_names()) names.push_back(n);
  sim::SimLines lines(io, names);

  std::map<core::Direction, sim::SimReader*> lobby_readers;
  std::vector<std::unique_ptr<ports::BadgeReader>> readers;
  for (const auto& d : hw->doors) {
    for (core::Direction dir : {core::Direction::in, core::Direction::out}) {
      auto r = std::make_unique<sim::SimReader>(io, config::sim_reader_id(d.door, dir));
      if (d.door == "lobby") lobby_readers[dir] = r.get();
      readers.push_back(std::move(r));
    }
  }

  // The observer is called synchronously from SimLines::set(), i.e. when the controller drives the
  // strike after the grant's audit commit.
  bool waiting = false;
  bool strike_seen = false;
  Steady::time_point strike_at{};
  lines.set_observer([&](const std::string& name, bool active) {
    if (waiting && active && name == strike) {
      strike_at = Steady::now();
      strike_seen = true;
      waiting = false;
    }
  });

  app::Controller controller(io, clock, **audit, **creds, lines, std::move(readers), cfg);
  std::size_t alarms = 0;
  controller.set_alarm_observer([&](const app::ActiveAlarm&) { ++alarms; });
  if (auto err = controller.start()) die("start: " + *err);
  run_until(
      io, [] { return false; }, std::chrono::milliseconds(100));  // start-up records committed

  // --- raw fsync file: preallocated, so each sample overwrites in place like a reused WAL -----
  const fs::path fsync_file = a.dir / "fsync-probe";
  const int fd = ::open(fsync_file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die("open " + fsync_file.string());
  {
    std::vector<char> zeros(kFsyncFileBytes, 0);
    if (::write(fd, zeros.data(), zeros.size()) != static_cast<ssize_t>(zeros.size()) || ::fsync(fd) != 0) {
      die("preallocate " + fsync_file.string());
    }
  }
  char payload[kFsyncBytes];
  for (std::size_t i = 0; i < kFsyncBytes; ++i) payload[i] = static_cast<char>('a' + i % 26);

  std::vector<double> e2e;
  std::vector<double> fsync;
  e2e.reserve(a.iterations);
  fsync.reserve(a.iterations);
  const auto wall0 = Steady::now();
  for (std::size_t i = 0; i < a.iterations; ++i) {
    const core::Direction dir = i % 2 == 0 ? core::Direction::in : core::Direction::out;
    // 1. badge -> strike
    strike_seen = false;
    waiting = true;
    const auto t0 = Steady::now();
    lobby_readers[dir]->tap(kBadge, core::CredentialKind::uid);
    if (!run_until(io, [&] { return strike_seen; })) {
      die("iteration " + std::to_string(i) + ": the strike was not released within 5 s");
    }
    e2e.push_back(us(strike_at - t0));
    // 2. the person passes: door open, then closed; the strike relocks as it closes.
    if (auto err = lines.inject(sensor, true)) die(*err);
    if (!run_until(io, [&] { return controller.engine().door_status(lobby_idx).open; })) die("door did not open");
    if (auto err = lines.inject(sensor, false)) die(*err);
    if (!run_until(io, [&] {
          const auto& s = controller.engine().door_status(lobby_idx);
          return !s.open && !s.unlocked && !lines.level(strike).value_or(true);
        })) {
      die("door did not close and relock");
    }
    run_until(
        io, [] { return false; }, std::chrono::milliseconds(0));  // flush what is ready
    // 3. raw fsync of the same disk
    const auto off = static_cast<off_t>((i * 4096) % kFsyncFileBytes);
    const auto f0 = Steady::now();
    if (::pwrite(fd, payload, sizeof payload, off) != static_cast<ssize_t>(sizeof payload) || ::fdatasync(fd) != 0) {
      die("fsync probe failed");
    }
    fsync.push_back(us(Steady::now() - f0));
  }
  const double wall = std::chrono::duration<double>(Steady::now() - wall0).count();
  ::close(fd);
  controller.stop();

  const Stats se = stats(e2e);
  const Stats sf = stats(fsync);
  std::printf("samples %zu each, wall %.1f s, alarms raised %zu (expected 0: in/out alternate), audit last seq %llu\n",
              a.iterations, wall, alarms, static_cast<unsigned long long>((*audit)->last_seq()));
  print("badge->strike (e2e)", se);
  print("raw pwrite 200B+fdatasync", sf);
  const double ratio = se.p99 / sf.p99;
  std::printf("ratio p99(e2e)/p99(fsync) %.2f  (target <= 2.00: %s)\n", ratio, ratio <= 2.0 ? "met" : "NOT met");
  std::printf("ratio p50(e2e)/p50(fsync) %.2f\n", se.p50 / sf.p50);

  if (own_dir && !a.keep) {
    std::error_code ec;
    fs::remove_all(a.dir, ec);
  }
  return 0;
}
