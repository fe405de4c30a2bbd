// SPDX-License-Identifier: Apache-2.0
#include "sim/sim_lines.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace zonegate::sim {
namespace {

// The messages match adapters/gpio word for word where the situation is the same, so operators and
// tests see one vocabulary whichever backend runs.
std::string quoted(const std::string& name) { return "GPIO line '" + name + "'"; }

std::string not_found(const std::string& name) {
  return quoted(name) + " not found (check gpio-line-names in the device tree)";
}

std::string errno_text(int err) { return std::generic_category().message(err); }

}  // namespace

// Debounce state of one requested input. Handlers hold it weakly, so close() ends it at once.
struct SimLines::Watch : std::enable_shared_from_this<SimLines::Watch> {
  Watch(boost::asio::io_context& io, std::chrono::milliseconds settle, ports::LineCallback callback)
      : timer(io),
        debounce(settle.count() > 0 ? settle : std::chrono::milliseconds{0}),
        on_change(std::move(callback)) {}

  boost::asio::steady_timer timer;
  std::chrono::milliseconds debounce;
  ports::LineCallback on_change;
  bool reported = false;
  bool current = false;  // the logical level now; what the hardware adapter would read at expiry
  bool watching = false;
  unsigned generation = 0;

  void start(bool initial_level) {
    reported = current = initial_level;
    watching = true;
    boost::asio::post(timer.get_executor(), [weak = weak_from_this(), initial_level] {
      if (auto self = weak.lock(); self && self->watching && self->on_change) self->on_change(initial_level);
    });
  }

  void on_edge(bool level) {
    current = level;
    const unsigned gen = ++generation;
    timer.expires_after(debounce);
    timer.async_wait([weak = weak_from_this(), gen](const boost::system::error_code& ec) {
      if (auto self = weak.lock()) self->on_settled(ec, gen);
    });
  }

  void on_settled(const boost::system::error_code& ec, unsigned gen) {
    if (ec || gen != generation || !watching || current == reported) return;
    reported = current;
    if (on_change) on_change(current);
  }

  void stop() {
    watching = false;
    boost::system::error_code ignored;
    timer.cancel(ignored);
  }
};

SimLines::SimLines(boost::asio::io_context& io, const std::vector<std::string>& names)
    : io_(io), on_error_(std::make_shared<LineErrorCallback>()) {
  for (const auto& name : names) {
    if (name.empty()) throw std::invalid_argument("simulated GPIO line names must not be empty");
    if (!lines_.emplace(name, Line{}).second) {
      throw std::invalid_argument("simulated GPIO line '" + name + "' is listed twice");
    }
  }
}

SimLines::~SimLines() { close(); }

SimLines::Line* SimLines::find(const std::string& name) {
  const auto it = lines_.find(name);
  return it == lines_.end() ? nullptr : &it->second;
}

const SimLines::Line* SimLines::find(const std::string& name) const {
  const auto it = lines_.find(name);
  return it == lines_.end() ? nullptr : &it->second;
}

std::optional<std::string> SimLines::check_requestable(const std::string& name, const char* role, Line*& out) {
  Line* line = find(name);
  if (line == nullptr || line->removed) return not_found(name);
  if (line->role != Line::Role::none) {
    return quoted(name) + " could not be requested as " + role + ": already requested by this process as " +
           (line->role == Line::Role::input ? "an input" : "an output");
  }
  out = line;
  return std::nullopt;
}

void SimLines::report_error(std::string message) {
  // Held weakly: nothing is reported once this object is gone.
  boost::asio::post(io_, [weak = std::weak_ptr<LineErrorCallback>(on_error_), message = std::move(message)] {
    if (auto sink = weak.lock(); sink && *sink) (*sink)(message);
  });
}

std::optional<std::string> SimLines::request_input(const std::string& name, const ports::InputConfig& cfg,
                                                   ports::LineCallback on_change) {
  try {
    Line* line = nullptr;
    if (auto err = check_requestable(name, "an input", line)) return err;
    line->watch = std::make_shared<Watch>(io_, cfg.debounce, std::move(on_change));
    line->role = Line::Role::input;
    line->active_low = cfg.active_low;
    line->stale = false;
    // A simulated input that nobody has driven rests at its inactive level, as real wiring does
    // (a door contact reads closed, a button released).
    if (!line->driven) line->high = cfg.active_low;
    line->watch->start(line->high != line->active_low);
    return std::nullopt;
  } catch (const std::exception& e) {
    return quoted(name) + " could not be requested as an input: " + e.what();
  }
}

std::optional<std::string> SimLines::request_output(const std::string& name, const ports::OutputConfig& cfg) {
  Line* line = nullptr;
  if (auto err = check_requestable(name, "an output", line)) return err;
  line->role = Line::Role::output;
  line->active_low = cfg.active_low;
  line->stale = false;
  line->high = cfg.initial_active != cfg.active_low;
  if (observer_) observer_(name, cfg.initial_active);
  return std::nullopt;
}

std::optional<std::string> SimLines::set(const std::string& name, bool active) {
  Line* line = find(name);
  if (line == nullptr || line->role != Line::Role::output) {
    if (line != nullptr && line->role == Line::Role::input) return quoted(name) + " is an input and cannot be set";
    return quoted(name) + " is not requested as an output";
  }
  const char* to = active ? "active" : "inactive";
  if (line->stale || line->removed) return quoted(name) + " could not be set " + to + ": " + errno_text(ENODEV);
  if (line->failing_sets) {
    return quoted(name) + " could not be set " + to + ": " + errno_text(EIO) + " (simulated fault)";
  }
  line->high = active != line->active_low;
  if (observer_) observer_(name, active);
  return std::nullopt;
}

void SimLines::close() {
  for (auto& [name, line] : lines_) {
    if (line.watch) line.watch->stop();
    line.watch.reset();
    line.role = Line::Role::none;
    line.active_low = false;
    line.stale = false;
  }
}

std::optional<std::string> SimLines::inject(const std::string& name, bool active) {
  const Line* line = find(name);
  const bool active_low = line != nullptr && line->role == Line::Role::input && line->active_low;
  return inject_raw(name, active != active_low);
}

std::optional<std::string> SimLines::inject_raw(const std::string& name, bool high) {
  Line* line = find(name);
  if (line == nullptr || line->removed) return not_found(name);
  if (line->role == Line::Role::output) return quoted(name) + " is an output; it cannot be driven from outside";
  if (line->high == high) return std::nullopt;  // no edge
  line->high = high;
  line->driven = true;
  if (line->role == Line::Role::input && !line->stale && line->watch) line->watch->on_edge(high != line->active_low);
  return std::nullopt;
}

std::optional<bool> SimLines::level(const std::string& name) const {
  const Line* line = find(name);
  if (line == nullptr || line->role != Line::Role::output) return std::nullopt;
  return line->high != line->active_low;
}

std::optional<bool> SimLines::raw_level(const std::string& name) const {
  const Line* line = find(name);
  if (line == nullptr || line->removed) return std::nullopt;
  return line->high;
}

bool SimLines::requested(const std::string& name) const {
  const Line* line = find(name);
  return line != nullptr && line->role != Line::Role::none;
}

std::vector<std::string> SimLines::names() const {
  std::vector<std::string> out;
  out.reserve(lines_.size());
  for (const auto& [name, line] : lines_) out.push_back(name);
  return out;
}

void SimLines::set_observer(SetObserver observer) { observer_ = std::move(observer); }

void SimLines::set_error_handler(LineErrorCallback on_error) { *on_error_ = std::move(on_error); }

void SimLines::fail_sets(const std::string& name, bool failing) {
  if (Line* line = find(name)) line->failing_sets = failing;
}

void SimLines::remove_line(const std::string& name) {
  Line* line = find(name);
  if (line == nullptr || line->removed) return;
  line->removed = true;
  if (line->role == Line::Role::none) return;
  line->stale = true;
  if (line->role == Line::Role::input && line->watch && line->watch->watching) {
    line->watch->stop();
    report_error(quoted(name) + " stopped delivering events: " + errno_text(ENODEV) + "; its level is unknown");
  }
}

void SimLines::restore_line(const std::string& name) {
  if (Line* line = find(name)) line->removed = false;
}

}  // namespace zonegate::sim
