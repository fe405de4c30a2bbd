// SPDX-License-Identifier: Apache-2.0
#include "adapters/gpio/gpiod_lines.hpp"

#include <gpiod.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace zonegate::adapters::gpio {
namespace {

// Thread-safe strerror (libstdc++ uses strerror_r); the daemon has threads besides the loop.
std::string errno_text(int err) { return std::generic_category().message(err != 0 ? err : EIO); }

std::string quoted(const std::string& name) { return "GPIO line '" + name + "'"; }

std::string not_found(const std::string& name) {
  return quoted(name) + " not found (check gpio-line-names in the device tree)";
}

// "gpiochip0 offset 3": what an operator needs to find the line with gpioinfo.
std::string where(gpiod_line* line) {
  const char* chip = gpiod_chip_name(gpiod_line_get_chip(line));
  return std::string(chip != nullptr ? chip : "?") + " offset " + std::to_string(gpiod_line_offset(line));
}

// Owns a line found with gpiod_line_find(). In libgpiod v1 every successful find opens the
// line's chip, so the chip is closed together with the line.
class LineHandle {
 public:
  LineHandle() = default;
  explicit LineHandle(gpiod_line* line) : line_(line) {}
  ~LineHandle() { reset(); }
  LineHandle(const LineHandle&) = delete;
  LineHandle& operator=(const LineHandle&) = delete;
  LineHandle(LineHandle&& other) noexcept
      : line_(std::exchange(other.line_, nullptr)), requested_(std::exchange(other.requested_, false)) {}
  LineHandle& operator=(LineHandle&& other) noexcept {
    if (this != &other) {
      reset();
      line_ = std::exchange(other.line_, nullptr);
      requested_ = std::exchange(other.requested_, false);
    }
    return *this;
  }

  [[nodiscard]] gpiod_line* get() const { return line_; }
  void mark_requested() { requested_ = true; }
  void reset() {
    if (line_ == nullptr) return;
    if (requested_) gpiod_line_release(line_);
    gpiod_line_close_chip(line_);
    line_ = nullptr;
    requested_ = false;
  }

 private:
  gpiod_line* line_ = nullptr;
  bool requested_ = false;
};

// Looks a line up by name on every chip. Returns the error message, or nullopt with `out` set.
std::optional<std::string> find_line(const std::string& name, LineHandle& out) {
  errno = 0;
  gpiod_line* line = gpiod_line_find(name.c_str());
  if (line == nullptr) {
    const int err = errno;
    if (err == ENOENT || err == 0) return not_found(name);
    std::string msg = quoted(name) + " could not be looked up: " + errno_text(err);
    if (err == EACCES || err == EPERM) msg += " (check access to /dev/gpiochip*)";
    return msg;
  }
  out = LineHandle(line);
  return std::nullopt;
}

std::string request_failed(const std::string& name, gpiod_line* line, const char* role, int err) {
  std::string msg = quoted(name) + " (" + where(line) + ") could not be requested as " + role + ": " + errno_text(err);
  if (err == EBUSY) {
    // The consumer was read when the line was looked up, so it names whoever holds it now.
    const char* holder = gpiod_line_consumer(line);
    if (holder != nullptr && *holder != '\0') msg += std::string(" (in use by '") + holder + "')";
  }
  return msg;
}

int request_flags(bool active_low) { return active_low ? static_cast<int>(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0; }

}  // namespace

// One requested input: its line, the event fd as seen by asio, and the debounce state.
struct GpiodLines::Input : std::enable_shared_from_this<GpiodLines::Input> {
  Input(boost::asio::io_context& io, std::string line_name, LineHandle line_handle, std::chrono::milliseconds settle,
        ports::LineCallback callback, std::shared_ptr<LineErrorCallback> error_sink)
      : name(std::move(line_name)),
        handle(std::move(line_handle)),
        events(io),
        settle_timer(io),
        debounce(settle.count() > 0 ? settle : std::chrono::milliseconds{0}),
        on_change(std::move(callback)),
        on_error(std::move(error_sink)) {}
  ~Input() { shutdown(); }
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;

  std::string name;
  LineHandle handle;
  boost::asio::posix::stream_descriptor events;  // borrows libgpiod's fd: released, never closed
  boost::asio::steady_timer settle_timer;
  std::chrono::milliseconds debounce;
  ports::LineCallback on_change;
  std::shared_ptr<LineErrorCallback> on_error;
  bool reported = false;         // the level the callback last saw
  bool last_edge_level = false;  // the level after the latest edge, if the line cannot be read
  bool watching = false;
  unsigned settle_generation = 0;

  void start(bool initial_level) {
    reported = initial_level;
    last_edge_level = initial_level;
    watching = true;
    boost::asio::post(events.get_executor(), [weak = weak_from_this(), initial_level] {
      if (auto self = weak.lock(); self && self->watching && self->on_change) self->on_change(initial_level);
    });
    do_wait();
  }

  void do_wait() {
    events.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [weak = weak_from_this()](const boost::system::error_code& ec) {
                        if (auto self = weak.lock()) self->on_readable(ec);
                      });
  }

  void on_readable(const boost::system::error_code& ec) {
    if (!watching || ec == boost::asio::error::operation_aborted) return;
    if (ec) {
      fail(ec.value());
      return;
    }
    // The fd is non-blocking, so the queue is drained until EAGAIN; a bounded number of batches
    // keeps one chattering line from starving the loop (asio re-arms and we come back).
    constexpr int kMaxBatches = 8;
    std::array<gpiod_line_event, 16> batch{};
    bool edge_seen = false;
    for (int round = 0; round < kMaxBatches; ++round) {
      errno = 0;
      const int n = gpiod_line_event_read_multiple(handle.get(), batch.data(), static_cast<unsigned>(batch.size()));
      if (n < 0) {
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) break;
        if (err == EINTR) continue;
        fail(err);
        return;
      }
      if (n == 0) break;
      edge_seen = true;
      last_edge_level = batch[static_cast<std::size_t>(n - 1)].event_type == GPIOD_LINE_EVENT_RISING_EDGE;
      if (static_cast<std::size_t>(n) < batch.size()) break;
    }
    if (edge_seen) do_settle();
    do_wait();
  }

  // Every edge restarts the window: a level counts only once the line has been quiet for `debounce`.
  void do_settle() {
    const unsigned generation = ++settle_generation;
    settle_timer.expires_after(debounce);
    settle_timer.async_wait([weak = weak_from_this(), generation](const boost::system::error_code& ec) {
      if (auto self = weak.lock()) self->on_settled(ec, generation);
    });
  }

  void on_settled(const boost::system::error_code& ec, unsigned generation) {
    // A timer that had already fired when a later edge re-armed it still completes without error,
    // so the generation, not the error code, tells whether this expiry is the current one.
    if (ec || generation != settle_generation || !watching) return;
    // Read the level now rather than trusting the last edge's type: after a burst of bounces the
    // kernel's per-edge level samples can disagree, the line itself cannot.
    const int value = gpiod_line_get_value(handle.get());
    const bool level = value < 0 ? last_edge_level : value != 0;
    if (level == reported) return;
    reported = level;
    if (on_change) on_change(level);
  }

  void fail(int err) {
    watching = false;
    boost::system::error_code ignored;
    settle_timer.cancel(ignored);
    events.cancel(ignored);
    if (on_error && *on_error) {
      (*on_error)(quoted(name) + " stopped delivering events: " + errno_text(err) + "; its level is unknown");
    }
  }

  void shutdown() {
    watching = false;
    boost::system::error_code ignored;
    settle_timer.cancel(ignored);
    if (events.is_open()) {
      events.cancel(ignored);
      (void)events.release();  // the fd belongs to libgpiod; gpiod_line_release closes it
    }
    handle.reset();
  }
};

struct GpiodLines::Output {
  std::string name;
  LineHandle handle;
};

GpiodLines::GpiodLines(boost::asio::io_context& io, std::string consumer)
    : io_(io), consumer_(std::move(consumer)), on_error_(std::make_shared<LineErrorCallback>()) {
  if (consumer_.empty()) throw std::invalid_argument("GPIO consumer label must not be empty");
}

GpiodLines::~GpiodLines() { close(); }

void GpiodLines::set_error_handler(LineErrorCallback on_error) { *on_error_ = std::move(on_error); }

std::optional<std::string> GpiodLines::check_unused(const std::string& name, const char* role) const {
  const char* held_as = inputs_.count(name) != 0 ? "an input" : outputs_.count(name) != 0 ? "an output" : nullptr;
  if (held_as == nullptr) return std::nullopt;
  return quoted(name) + " could not be requested as " + role + ": already requested by this process as " + held_as;
}

std::optional<std::string> GpiodLines::request_input(const std::string& name, const ports::InputConfig& cfg,
                                                     ports::LineCallback on_change) {
  try {
    if (auto busy = check_unused(name, "an input")) return busy;
    LineHandle handle;
    if (auto missing = find_line(name, handle)) return missing;
    errno = 0;
    if (gpiod_line_request_both_edges_events_flags(handle.get(), consumer_.c_str(), request_flags(cfg.active_low)) !=
        0) {
      return request_failed(name, handle.get(), "an input", errno);
    }
    handle.mark_requested();

    errno = 0;
    const int initial = gpiod_line_get_value(handle.get());
    if (initial < 0) return quoted(name) + " (" + where(handle.get()) + ") could not be read: " + errno_text(errno);
    errno = 0;
    const int fd = gpiod_line_event_get_fd(handle.get());
    if (fd < 0) return quoted(name) + " has no event descriptor: " + errno_text(errno);

    auto input = std::make_shared<Input>(io_, name, std::move(handle), cfg.debounce, std::move(on_change), on_error_);
    boost::system::error_code ec;
    input->events.assign(fd, ec);
    if (!ec) input->events.non_blocking(true, ec);
    if (ec) return quoted(name) + " could not be watched for events: " + ec.message();
    input->start(initial != 0);
    inputs_.emplace(name, std::move(input));
    return std::nullopt;
  } catch (const std::exception& e) {
    return quoted(name) + " could not be requested as an input: " + e.what();
  }
}

std::optional<std::string> GpiodLines::request_output(const std::string& name, const ports::OutputConfig& cfg) {
  try {
    if (auto busy = check_unused(name, "an output")) return busy;
    LineHandle handle;
    if (auto missing = find_line(name, handle)) return missing;
    errno = 0;
    if (gpiod_line_request_output_flags(handle.get(), consumer_.c_str(), request_flags(cfg.active_low),
                                        cfg.initial_active ? 1 : 0) != 0) {
      return request_failed(name, handle.get(), "an output", errno);
    }
    handle.mark_requested();
    outputs_.emplace(name, std::make_unique<Output>(Output{name, std::move(handle)}));
    return std::nullopt;
  } catch (const std::exception& e) {
    return quoted(name) + " could not be requested as an output: " + e.what();
  }
}

std::optional<std::string> GpiodLines::set(const std::string& name, bool active) {
  const auto it = outputs_.find(name);
  if (it == outputs_.end()) {
    if (inputs_.count(name) != 0) return quoted(name) + " is an input and cannot be set";
    return quoted(name) + " is not requested as an output";
  }
  errno = 0;
  if (gpiod_line_set_value(it->second->handle.get(), active ? 1 : 0) != 0) {
    const int err = errno;
    return quoted(name) + " could not be set " + (active ? "active" : "inactive") + ": " + errno_text(err);
  }
  return std::nullopt;
}

void GpiodLines::close() {
  // Moved out first: a callback may call close() again while this runs.
  auto inputs = std::move(inputs_);
  auto outputs = std::move(outputs_);
  inputs_.clear();
  outputs_.clear();
  for (auto& [name, input] : inputs) input->shutdown();
}

// --- PowerCycler ------------------------------------------------------------------------------

struct PowerCycler::State {
  State(boost::asio::io_context& io, ports::GpioLines& gpio, std::string line, std::chrono::milliseconds off)
      : lines(gpio), name(std::move(line)), off_time(off), timer(io) {}
  ports::GpioLines& lines;
  std::string name;
  std::chrono::milliseconds off_time;
  boost::asio::steady_timer timer;
  bool cycling = false;
  unsigned generation = 0;
  Done on_done;
};

PowerCycler::PowerCycler(boost::asio::io_context& io, ports::GpioLines& lines, std::string line_name,
                         std::chrono::milliseconds off_time)
    : state_(std::make_shared<State>(io, lines, std::move(line_name), off_time)) {}

PowerCycler::~PowerCycler() {
  if (!state_->cycling) return;
  state_->cycling = false;
  boost::system::error_code ignored;
  state_->timer.cancel(ignored);
  // Leaving a reader unpowered because the daemon is shutting down would help no one.
  (void)state_->lines.set(state_->name, true);
}

std::optional<std::string> PowerCycler::cycle(Done on_done) {
  State& s = *state_;
  if (s.cycling) return "power cycle of " + quoted(s.name) + " is already in progress";
  if (auto err = s.lines.set(s.name, false)) return err;
  s.cycling = true;
  s.on_done = std::move(on_done);
  const unsigned generation = ++s.generation;
  s.timer.expires_after(s.off_time);
  s.timer.async_wait([weak = std::weak_ptr<State>(state_), generation](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || generation != self->generation || !self->cycling) return;
    self->cycling = false;
    auto err = self->lines.set(self->name, true);
    auto done = std::exchange(self->on_done, nullptr);
    if (done) done(std::move(err));
  });
  return std::nullopt;
}

bool PowerCycler::cycling() const { return state_->cycling; }

const std::string& PowerCycler::line_name() const { return state_->name; }

}  // namespace zonegate::adapters::gpio
