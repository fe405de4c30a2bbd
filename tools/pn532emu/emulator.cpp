// SPDX-License-Identifier: Apache-2.0
#include "pn532emu/emulator.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <system_error>

namespace zonegate::pn532emu {
namespace {

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

std::uint32_t pick_seed(std::uint32_t seed) { return seed != 0 ? seed : std::random_device{}(); }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

Emulator::Emulator() : Emulator(Options{}) {}

Emulator::Emulator(Options options) : options_(std::move(options)), model_(pick_seed(options_.seed)) {
  try {
    master_fd_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master_fd_ < 0) throw_errno("posix_openpt");
    if (::grantpt(master_fd_) != 0) throw_errno("grantpt");
    if (::unlockpt(master_fd_) != 0) throw_errno("unlockpt");
    char name[128];
    if (::ptsname_r(master_fd_, name, sizeof name) != 0) throw_errno("ptsname_r");
    slave_path_ = name;
    // Hold the slave open: with no slave open the master reports a hang-up on every poll, and
    // settings made here (raw mode, no echo) would be lost between libnfc sessions.
    slave_fd_ = ::open(slave_path_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave_fd_ < 0) throw_errno("open pty slave");
    termios t{};
    if (::tcgetattr(slave_fd_, &t) != 0) throw_errno("tcgetattr");
    ::cfmakeraw(&t);  // without this the line discipline would echo the chip's replies back to it
    ::cfsetispeed(&t, B115200);
    ::cfsetospeed(&t, B115200);
    if (::tcsetattr(slave_fd_, TCSANOW, &t) != 0) throw_errno("tcsetattr");
    const int flags = ::fcntl(master_fd_, F_GETFL);
    if (flags < 0 || ::fcntl(master_fd_, F_SETFL, flags | O_NONBLOCK) != 0) throw_errno("fcntl(O_NONBLOCK)");
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw_errno("eventfd");

    device_path_ = slave_path_;
    if (!options_.link_path.empty()) {
      struct stat st {};
      if (::lstat(options_.link_path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) ::unlink(options_.link_path.c_str());
      if (::symlink(slave_path_.c_str(), options_.link_path.c_str()) != 0) throw_errno("symlink");
      device_path_ = options_.link_path;
    }
    if (options_.trace) {
      model_.set_trace([](std::string_view what, std::span<const std::uint8_t> bytes) {
        std::fprintf(stderr, "[pn532emu] %-4.*s", static_cast<int>(what.size()), what.data());
        for (const auto b : bytes) std::fprintf(stderr, " %02x", static_cast<unsigned>(b));
        std::fputc('\n', stderr);
      });
    }
    thread_ = std::thread(&Emulator::run, this);
  } catch (...) {
    if (device_path_ == options_.link_path && !options_.link_path.empty()) ::unlink(options_.link_path.c_str());
    close_fd(wake_fd_);
    close_fd(slave_fd_);
    close_fd(master_fd_);
    throw;
  }
}

Emulator::~Emulator() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  if (!options_.link_path.empty()) ::unlink(options_.link_path.c_str());
  close_fd(wake_fd_);
  close_fd(slave_fd_);
  close_fd(master_fd_);
}

void Emulator::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

void Emulator::queue_output(std::vector<std::uint8_t> bytes) {
  outgoing_.insert(outgoing_.end(), bytes.begin(), bytes.end());
}

void Emulator::present(Card card) {
  std::lock_guard lock(mutex_);
  queue_output(model_.present(std::move(card), Pn532Model::Clock::now()));
  wake();
}

void Emulator::remove_card() {
  std::lock_guard lock(mutex_);
  model_.remove_card();
}

void Emulator::arm(Fault fault, unsigned count) {
  std::lock_guard lock(mutex_);
  model_.arm(fault, count);
}

void Emulator::hang() {
  std::lock_guard lock(mutex_);
  model_.set_hung(true);
}

void Emulator::resume() {
  std::lock_guard lock(mutex_);
  model_.set_hung(false);
  wake();
}

void Emulator::clear_faults() {
  std::lock_guard lock(mutex_);
  model_.clear_faults();
  wake();
}

bool Emulator::hung() const {
  std::lock_guard lock(mutex_);
  return model_.hung();
}

Stats Emulator::stats() const {
  std::lock_guard lock(mutex_);
  return model_.stats();
}

bool Emulator::wait_for(const std::function<bool(const Stats&)>& pred, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return pred(model_.stats()); });
}

void Emulator::run() {
  std::vector<std::uint8_t> buffer(4096);
  for (;;) {
    int timeout_ms = 1000;
    bool want_write = false;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      want_write = !outgoing_.empty();
      if (const auto deadline = model_.next_deadline()) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Pn532Model::Clock::now());
        timeout_ms = static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 1000));
      }
    }
    pollfd fds[2] = {{master_fd_, static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0}, {wake_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, 2, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      std::perror("pn532emu: poll");
      return;
    }
    if (ready > 0 && (fds[1].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto n = ::read(wake_fd_, &count, sizeof count);
    }
    std::vector<std::uint8_t> received;
    if (ready > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const auto n = ::read(master_fd_, buffer.data(), buffer.size());
      if (n > 0) {
        received.assign(buffer.begin(), buffer.begin() + n);
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        ::usleep(10000);  // EIO: no slave open (cannot happen while we hold one); do not spin
      }
    }
    {
      std::lock_guard lock(mutex_);
      const auto now = Pn532Model::Clock::now();
      if (!received.empty()) queue_output(model_.on_host_bytes(received, now));
      queue_output(model_.on_tick(now));
      while (!outgoing_.empty()) {
        const auto n = ::write(master_fd_, outgoing_.data(), outgoing_.size());
        if (n <= 0) break;  // EAGAIN: the terminal buffer is full; POLLOUT resumes
        outgoing_.erase(outgoing_.begin(), outgoing_.begin() + n);
      }
    }
    changed_.notify_all();
  }
}

}  // namespace zonegate::pn532emu
