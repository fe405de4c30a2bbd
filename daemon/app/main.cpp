// SPDX-License-Identifier: Apache-2.0
// zonegated: the access-control daemon. One Asio event loop drives the decision core; readers
// and lines are real (libnfc, libgpiod) or simulated (--sim). See README.md and docs/daemon.md.
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "adapters/gpio/gpiod_lines.hpp"
#include "adapters/upstream/dsn.hpp"
#include "adapters/upstream/sync.hpp"
#include "app/console.hpp"
#include "app/control_server.hpp"
#include "app/controller.hpp"
#include "app/log.hpp"
#include "app/nfc_badge_reader.hpp"
#include "app/system_clock.hpp"
#include "config/loader.hpp"
#include "sim/sim_lines.hpp"
#include "sim/sim_reader.hpp"

namespace {

using namespace zonegate;
namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: zonegated [--config FILE] [--state-dir DIR] [--sim] [--log-level LEVEL]\n"
    "  --config FILE     site configuration (default /etc/zonegate/zones.yaml)\n"
    "  --state-dir DIR   audit trail, credentials, keys (default /var/lib/zonegate)\n"
    "  --control-socket PATH  the control socket (default <state-dir>/control.sock; the systemd unit\n"
    "                    puts it in /run/zonegate so that control_socket_group can reach it)\n"
    "  --sim             simulate every badge reader and GPIO line, whatever the config says\n"
    "  --log-level L     debug, info, notice, warning or error (default: daemon.log_level)\n"
    "  --console-assets DIR  the console's page files (default: the installed share directory)\n"
    "  --console-port N  serve the console on this port instead of daemon.console.listen's (0: any free port)\n";

struct Args {
  std::string config = "/etc/zonegate/zones.yaml";
  fs::path state_dir = "/var/lib/zonegate";
  std::optional<fs::path> control_socket;
  bool sim = false;
  std::string log_level;
  std::optional<fs::path> console_assets;
  std::optional<std::uint16_t> console_port;
};

std::optional<Args> parse_args(int argc, char** argv, int& exit_code) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&](const char* name) -> std::optional<std::string> {
      if (i + 1 >= argc) {
        std::cerr << "zonegated: " << name << " needs a value\n" << kUsage;
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      exit_code = 0;
      return std::nullopt;
    }
    if (arg == "--sim") {
      a.sim = true;
    } else if (arg == "--config") {
      auto v = value("--config");
      if (!v) return std::nullopt;
      a.config = *v;
    } else if (arg == "--state-dir") {
      auto v = value("--state-dir");
      if (!v) return std::nullopt;
      a.state_dir = *v;
    } else if (arg == "--control-socket") {
      auto v = value("--control-socket");
      if (!v) return std::nullopt;
      if (v->empty()) {
        std::cerr << "zonegated: --control-socket needs a path\n" << kUsage;
        return std::nullopt;
      }
      a.control_socket = *v;
    } else if (arg == "--console-assets") {
      auto v = value("--console-assets");
      if (!v) return std::nullopt;
      a.console_assets = *v;
    } else if (arg == "--console-port") {
      auto v = value("--console-port");
      if (!v) return std::nullopt;
      char* end = nullptr;
      const unsigned long port = std::strtoul(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0' || port > 65535) {
        std::cerr << "zonegated: --console-port needs a port number 0-65535\n" << kUsage;
        return std::nullopt;
      }
      a.console_port = static_cast<std::uint16_t>(port);
    } else if (arg == "--log-level") {
      auto v = value("--log-level");
      if (!v) return std::nullopt;
      a.log_level = *v;
    } else {
      std::cerr << "zonegated: unknown argument '" << arg << "'\n" << kUsage;
      return std::nullopt;
    }
  }
  return a;
}

/// The sync client's options from `daemon.upstream`.
adapters::upstream::SyncOptions sync_options(const config::DaemonSettings& d,
                                             const adapters::audit::AuditStore& audit) {
  const config::UpstreamSettings& u = *d.upstream;
  adapters::upstream::SyncOptions o;
  o.gateway_id = d.gateway_id;
  o.dsn = u.dsn;
  o.passfile = u.passfile;
  o.sslmode = u.sslmode;
  o.sslrootcert = u.sslrootcert;
  o.sslcert = u.sslcert;
  o.sslkey = u.sslkey;
  o.batch = u.batch;
  o.pull_interval = u.pull_interval;
  o.backoff_max = u.backoff_max;
  o.timeout = u.timeout;
  o.audit_db = audit.database_path();
  o.log = [](adapters::upstream::SyncLogLevel level, std::string_view message) {
    using L = adapters::upstream::SyncLogLevel;
    switch (level) {
      case L::debug:
        app::Log::debug(message);
        break;
      case L::info:
        app::Log::info(message);
        break;
      case L::notice:
        app::Log::notice(message);
        break;
      case L::warning:
        app::Log::warning(message);
        break;
      case L::error:
        app::Log::error(message);
        break;
    }
  };
  return o;
}

/// libpq's verdict on daemon.upstream.dsn, placed where the value is written (the config loader
/// does not link libpq, so this check happens here).
std::optional<config::ConfigError> check_upstream_dsn(const config::DaemonSettings& d, const std::string& file) {
  if (!d.upstream) return std::nullopt;
  auto e = adapters::upstream::check_dsn(d.upstream->dsn);
  if (!e) return std::nullopt;
  return config::ConfigError{file, d.upstream->dsn_line, d.upstream->dsn_column, "daemon.upstream.dsn", *e};
}

/// Reads the DESFire site master key: 32 hex digits in a file nobody but the owner can read.
std::optional<adapters::nfc::AesKey> read_master_key(const fs::path& path, std::string& error) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    error = "master key file " + path.string() + " cannot be read";
    return std::nullopt;
  }
  if ((st.st_mode & 077) != 0) {
    error = "master key file " + path.string() + " is readable by group or others (chmod 0600 it)";
    return std::nullopt;
  }
  std::ifstream in(path);
  std::string text;
  in >> text;
  adapters::nfc::AesKey key{};
  if (text.size() != 32) {
    error = "master key file " + path.string() + " must hold 32 hex digits";
    return std::nullopt;
  }
  for (std::size_t i = 0; i < 16; ++i) {
    const auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    const int hi = hex(text[2 * i]);
    const int lo = hex(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      error = "master key file " + path.string() + " must hold 32 hex digits";
      return std::nullopt;
    }
    key[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return key;
}

int run(const Args& args) {
  config::LoadResult cfg = config::load_policy_file(args.config);
  if (!cfg.ok()) {
    for (const auto& e : cfg.errors) std::cerr << e.to_string() << "\n";
    std::cerr << "zonegated: " << args.config << ": " << cfg.errors.size() << " error(s); not starting\n";
    return 1;
  }
  if (auto e = check_upstream_dsn(*cfg.daemon, args.config)) {
    std::cerr << e->to_string() << "\n";
    std::cerr << "zonegated: " << args.config << ": 1 error(s); not starting\n";
    return 1;
  }
  auto level = app::log_level_from_string(args.log_level.empty() ? cfg.daemon->log_level : args.log_level);
  if (!level) {
    std::cerr << "zonegated: unknown log level '" << args.log_level << "'\n";
    return 2;
  }
  app::Log::init(*level);
  if (args.sim) {
    auto hw = std::make_shared<config::HardwareConfig>(*cfg.hardware);
    hw->readers = config::ReaderBackend::sim;
    hw->gpio = config::GpioBackend::sim;
    cfg.hardware = hw;
  }
  std::error_code ec;
  fs::create_directories(args.state_dir, ec);
  if (ec) {
    app::Log::error("state directory " + args.state_dir.string() + ": " + ec.message());
    return 1;
  }
  fs::permissions(args.state_dir, fs::perms::owner_all, fs::perm_options::replace, ec);

  adapters::audit::Options ao;
  ao.state_dir = args.state_dir;
  ao.gateway_id = cfg.daemon->gateway_id;
  ao.checkpoint_every_records = cfg.daemon->checkpoint_every;
  ao.checkpoint_every = cfg.daemon->checkpoint_interval;
  auto audit = adapters::audit::AuditStore::open(ao);
  if (!audit) {
    app::Log::error("audit trail: " + audit.error().message);
    return 1;
  }
  auto credentials = adapters::credentials::CredentialStore::open(args.state_dir / "credentials.db");
  if (!credentials) {
    app::Log::error("credential store: " + credentials.error().message);
    return 1;
  }

  boost::asio::io_context io(1);
  app::SystemClock clock;
  const config::HardwareConfig& hw = *cfg.hardware;

  std::unique_ptr<ports::GpioLines> lines;
  if (hw.gpio == config::GpioBackend::sim) {
    std::vector<std::string> names = hw.all_input_names();
    for (auto& n : hw.all_output_names()) names.push_back(n);
    lines = std::make_unique<sim::SimLines>(io, names);
  } else {
    lines = std::make_unique<adapters::gpio::GpiodLines>(io, "zonegated");
  }

  std::vector<std::unique_ptr<ports::BadgeReader>> readers;
  std::map<std::string, std::unique_ptr<adapters::gpio::PowerCycler>> cyclers;
  if (hw.readers == config::ReaderBackend::sim) {
    for (const auto& d : hw.doors) {
      for (core::Direction dir : {core::Direction::in, core::Direction::out}) {
        readers.push_back(std::make_unique<sim::SimReader>(io, config::sim_reader_id(d.door, dir)));
      }
    }
  } else {
    fs::path key_path = hw.nfc.master_key_file;
    if (key_path.is_relative()) key_path = args.state_dir / key_path;
    std::string err;
    auto key = read_master_key(key_path, err);
    if (!key) {
      app::Log::error(err);
      return 1;
    }
    for (const auto& d : hw.doors) {
      std::function<void()> power_cycle;
      if (d.reader_power) {
        auto& c = cyclers[d.reader_power->name];
        if (!c) c = std::make_unique<adapters::gpio::PowerCycler>(io, *lines, d.reader_power->name);
        adapters::gpio::PowerCycler* cycler = c.get();
        power_cycle = [cycler] {
          if (auto e = cycler->cycle()) app::Log::warning("reader power cycle: " + *e);
        };
      }
      for (core::Direction dir : {core::Direction::in, core::Direction::out}) {
        const std::string& conn = dir == core::Direction::in ? d.reader_in : d.reader_out;
        if (conn.empty()) continue;
        adapters::nfc::ReaderConfig rc;
        rc.id = config::sim_reader_id(d.door, dir);
        rc.connstring = conn;
        rc.master_key = *key;
        rc.aid = hw.nfc.application;
        rc.key_no = hw.nfc.key_number;
        rc.system_identifier = hw.nfc.system_identifier;
        rc.poll_interval = hw.nfc.poll_interval;
        rc.hung_timeout = hw.nfc.hung_timeout;
        rc.power_cycle = power_cycle;
        readers.push_back(std::make_unique<app::NfcBadgeReader>(io, std::move(rc)));
      }
    }
  }

  app::Controller controller(io, clock, **audit, **credentials, *lines, std::move(readers), cfg);
  if (auto err = controller.start()) {
    app::Log::error("cannot start: " + *err);
    return 1;
  }

  // The upstream sync only moves audit records up and badges down; it starts after the
  // controller (whose first records it may then upload) and never touches a door.
  std::unique_ptr<adapters::upstream::UpstreamSync> upstream;
  std::optional<config::UpstreamSettings> upstream_settings;
  const auto start_upstream = [&](const config::DaemonSettings& d) {
    if (upstream) upstream->stop();
    upstream.reset();
    upstream_settings = d.upstream;
    if (!d.upstream) return;
    upstream =
        std::make_unique<adapters::upstream::UpstreamSync>(io, clock, **audit, **credentials, sync_options(d, **audit));
    if (auto err = upstream->start()) {
      // Not fatal: the gateway decides locally; the status says why nothing is uploaded.
      app::Log::error("upstream: " + *err);
    }
  };
  start_upstream(*cfg.daemon);
  controller.add_status_section("upstream", [&]() -> nlohmann::json {
    if (!upstream) return nlohmann::json{{"state", "disabled"}};
    return upstream->status_json();
  });

  const auto reload = [&]() -> bool {
    app::Log::notice("reloading " + args.config);
    sd_notify(0, "RELOADING=1");
    config::LoadResult next = config::load_policy_file(args.config);
    if (next.ok()) {
      if (auto e = check_upstream_dsn(*next.daemon, args.config)) {
        next.errors.push_back(std::move(*e));
        next.policy.reset();
      }
    }
    const bool ok = controller.reload(next, args.config);
    // A changed daemon.upstream takes effect now: the sync reconnects with the new settings
    // (an unfinished batch is rolled back by the server and sent again).
    if (ok && next.daemon && next.daemon->upstream != upstream_settings) {
      app::Log::notice("upstream: settings changed; restarting the sync");
      start_upstream(*next.daemon);
    }
    sd_notify(0, "READY=1");
    return ok;
  };
  const fs::path control_socket = args.control_socket.value_or(args.state_dir / "control.sock");
  app::ControlServer control(io, controller, control_socket, cfg.daemon->control_socket_group, reload);
  if (auto err = control.start()) {
    app::Log::error(*err);
    return 1;
  }

  // The guard and auditor console (daemon.console; not served when the section is absent).
  std::unique_ptr<app::Console> console;
  if (cfg.daemon->console) {
    const config::ConsoleConfig& cc = *cfg.daemon->console;
    app::ConsoleSettings cs;
    cs.host = cc.host;
    cs.port = args.console_port.value_or(cc.port);
    cs.cert = cc.cert;
    cs.key = cc.key;
    cs.session_idle = std::chrono::duration_cast<std::chrono::seconds>(cc.session_idle);
    cs.assets = args.console_assets ? *args.console_assets : fs::path(ZONEGATE_CONSOLE_ASSETS);
    console = std::make_unique<app::Console>(io, controller, clock, **audit, **credentials, args.state_dir,
                                             cfg.daemon->gateway_id, cs);
    if (auto err = console->start()) {
      app::Log::error("console: " + *err);
      return 1;
    }
    app::Log::notice("console at " + console->url());
  }

  boost::asio::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& sec,
                                                                             int sig) {
    if (sec) return;
    if (sig == SIGHUP) {
      reload();
      signals.async_wait(on_signal);
      return;
    }
    app::Log::notice(std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    sd_notify(0, "STOPPING=1");
    control.stop();
    if (console) console->stop();
    if (upstream) upstream->stop();
    controller.stop();
    io.stop();
  };
  signals.async_wait(on_signal);

  // Watchdog: systemd restarts us if the loop stops turning. Ping at half the interval.
  std::uint64_t watchdog_usec = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
  const auto housekeeping_period =
      watchdog ? std::chrono::microseconds(watchdog_usec / 2) : std::chrono::microseconds(std::chrono::seconds(1));
  boost::asio::steady_timer housekeeping(io);
  std::function<void()> arm = [&] {
    housekeeping.expires_after(std::min<std::chrono::microseconds>(housekeeping_period, std::chrono::seconds(1)));
    housekeeping.async_wait([&](const boost::system::error_code& hec) {
      if (hec) return;
      if (watchdog) sd_notify(0, "WATCHDOG=1");
      controller.periodic();
      arm();
    });
  };
  arm();

  const auto& p = controller.engine().policy();
  app::Log::notice("zonegated ready: site " + p.site_name + ", gateway " + cfg.daemon->gateway_id + ", " +
                   std::to_string(p.doors.size()) + " doors, readers " +
                   (hw.readers == config::ReaderBackend::sim ? "simulated" : "nfc") + ", gpio " +
                   (hw.gpio == config::GpioBackend::sim ? "simulated" : "gpiod") + ", control socket " +
                   control_socket.string());
  sd_notifyf(0, "READY=1\nSTATUS=site %s, %zu doors", p.site_name.c_str(), p.doors.size());
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 2;
  auto args = parse_args(argc, argv, exit_code);
  if (!args) return exit_code;
  // A write to a control client that went away must not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(*args);
  } catch (const std::exception& e) {
    // Exceptions are for start-up only; anything reaching here is a start-up failure.
    std::cerr << "zonegated: " << e.what() << "\n";
    return 1;
  }
}
