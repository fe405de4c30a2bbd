// SPDX-License-Identifier: Apache-2.0
// Link-time fake of the libgpiod v1 functions used by daemon/adapters/gpio. The definitions below
// are checked against the prototypes in <gpiod.h> by the compiler (same names, C linkage). The
// semantics follow libgpiod 1.6 over the v1 character-device uAPI:
//  - gpiod_line_find() opens a fresh chip handle per call; gpiod_line_close_chip() closes it and
//    releases its lines;
//  - a second request of a line object fails with EBUSY in libgpiod itself, a line held by another
//    handle or process fails with EBUSY in the kernel;
//  - with ACTIVE_LOW, values read and written and the type of both-edge events are logical (the
//    kernel reads the logical level to decide rising or falling);
//  - gpiod_line_event_read_multiple() is one read() of up to n events from the event fd.
#include "fakes/fake_gpiod.hpp"

#include <fcntl.h>
#include <gpiod.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <memory>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

enum class State { free, events, output };

struct ModelLine {
  std::string chip;
  unsigned offset = 0;
  std::string name;
  bool high = false;            // the wire level
  bool removed = false;         // the chip went away
  gpiod_line* owner = nullptr;  // our handle holding it
  std::string consumer;         // owner's or another process's label
  bool held_elsewhere = false;
};

}  // namespace

struct gpiod_line {
  gpiod_chip* chip = nullptr;
  ModelLine* model = nullptr;  // nullptr once fake_gpiod_reset() forgot the model
  unsigned offset = 0;
  State state = State::free;
  bool active_low = false;
  int event_fd = -1;  // read end, handed to the adapter
  int feed_fd = -1;   // write end, fed by fake_gpiod_set_input
};

struct gpiod_chip {
  std::string name;
  std::vector<std::unique_ptr<gpiod_line>> lines;
};

namespace {

struct Model {
  std::vector<std::unique_ptr<ModelLine>> lines;
  std::set<gpiod_chip*> open_chips;
  int fail_next_request = 0;
  int fail_next_set = 0;
  int fail_next_find = 0;
};

Model& model() {
  static Model m;
  return m;
}

ModelLine* lookup(const std::string& name) {
  for (auto& line : model().lines) {
    if (!line->removed && line->name == name) return line.get();
  }
  return nullptr;
}

ModelLine& must_lookup(const std::string& name) {
  ModelLine* line = lookup(name);
  if (line == nullptr) throw std::invalid_argument("fake_gpiod: no line named '" + name + "'");
  return *line;
}

int fail(int err) {
  errno = err;
  return -1;
}

int take(int& pending) { return std::exchange(pending, 0); }

// The line is usable by value and event calls: still modelled and still present.
bool present(const gpiod_line* line) { return line->model != nullptr && !line->model->removed; }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int request(gpiod_line* line, const char* consumer, int flags, State as) {
  if (line->state != State::free) return fail(EBUSY);
  if (int err = take(model().fail_next_request); err != 0) return fail(err);
  if (!present(line)) return fail(ENODEV);
  ModelLine& m = *line->model;
  if (m.owner != nullptr || m.held_elsewhere) return fail(EBUSY);
  if (as == State::events) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    line->event_fd = fds[0];
    line->feed_fd = fds[1];
  }
  line->state = as;
  line->active_low = (flags & GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) != 0;
  m.owner = line;
  m.consumer = consumer != nullptr ? consumer : "";
  return 0;
}

}  // namespace

// --- the gpiod_* functions the adapter uses -------------------------------------------------------

extern "C" {

struct gpiod_line* gpiod_line_find(const char* name) {
  if (int err = take(model().fail_next_find); err != 0) {
    errno = err;
    return nullptr;
  }
  ModelLine* m = name != nullptr ? lookup(name) : nullptr;
  if (m == nullptr) {
    errno = ENOENT;
    return nullptr;
  }
  auto chip = std::make_unique<gpiod_chip>();
  chip->name = m->chip;
  auto line = std::make_unique<gpiod_line>();
  line->chip = chip.get();
  line->model = m;
  line->offset = m->offset;
  gpiod_line* result = line.get();
  chip->lines.push_back(std::move(line));
  model().open_chips.insert(chip.release());
  return result;
}

void gpiod_line_release(struct gpiod_line* line) {
  if (line == nullptr || line->state == State::free) return;
  close_fd(line->event_fd);
  close_fd(line->feed_fd);
  if (line->model != nullptr && line->model->owner == line) {
    line->model->owner = nullptr;
    line->model->consumer.clear();
  }
  line->state = State::free;
}

void gpiod_line_close_chip(struct gpiod_line* line) {
  if (line == nullptr) return;
  gpiod_chip* chip = line->chip;
  for (auto& l : chip->lines) gpiod_line_release(l.get());
  model().open_chips.erase(chip);
  delete chip;
}

struct gpiod_chip* gpiod_line_get_chip(struct gpiod_line* line) {
  return line->chip;
}

const char* gpiod_chip_name(struct gpiod_chip* chip) { return chip->name.c_str(); }

unsigned int gpiod_line_offset(struct gpiod_line* line) { return line->offset; }

const char* gpiod_line_consumer(struct gpiod_line* line) {
  if (line->model == nullptr || line->model->consumer.empty()) return nullptr;
  return line->model->consumer.c_str();
}

int gpiod_line_request_both_edges_events_flags(struct gpiod_line* line, const char* consumer, int flags) {
  return request(line, consumer, flags, State::events);
}

int gpiod_line_request_output_flags(struct gpiod_line* line, const char* consumer, int flags, int default_val) {
  const int rc = request(line, consumer, flags, State::output);
  if (rc == 0) line->model->high = (default_val != 0) != line->active_low;
  return rc;
}

int gpiod_line_get_value(struct gpiod_line* line) {
  if (line->state == State::free) return fail(EPERM);
  if (!present(line)) return fail(ENODEV);
  return line->model->high != line->active_low ? 1 : 0;
}

int gpiod_line_set_value(struct gpiod_line* line, int value) {
  if (line->state != State::output) return fail(EPERM);
  if (int err = take(model().fail_next_set); err != 0) return fail(err);
  if (!present(line)) return fail(ENODEV);
  line->model->high = (value != 0) != line->active_low;
  return 0;
}

int gpiod_line_event_get_fd(struct gpiod_line* line) {
  if (line->state != State::events) return fail(EPERM);
  return line->event_fd;
}

int gpiod_line_event_read_multiple(struct gpiod_line* line, struct gpiod_line_event* events, unsigned int num_events) {
  if (line->state != State::events) return fail(EPERM);
  if (!present(line)) return fail(ENODEV);
  const ssize_t rd = ::read(line->event_fd, events, sizeof(gpiod_line_event) * num_events);
  if (rd < 0) return -1;
  if (static_cast<std::size_t>(rd) < sizeof(gpiod_line_event)) return fail(EIO);
  return static_cast<int>(static_cast<std::size_t>(rd) / sizeof(gpiod_line_event));
}

}  // extern "C"

// --- control API ------------------------------------------------------------------------------------

void fake_gpiod_reset() {
  Model& m = model();
  // Open handles are orphaned, not released: their fds may still be watched by the code under
  // test, which closes them through gpiod_line_release()/gpiod_line_close_chip() as usual.
  for (gpiod_chip* chip : m.open_chips) {
    for (auto& line : chip->lines) line->model = nullptr;
  }
  m.lines.clear();
  m.fail_next_request = m.fail_next_set = m.fail_next_find = 0;
}

void fake_gpiod_add_line(const std::string& chip, unsigned offset, const std::string& name) {
  auto line = std::make_unique<ModelLine>();
  line->chip = chip;
  line->offset = offset;
  line->name = name;
  model().lines.push_back(std::move(line));
}

void fake_gpiod_set_input(const std::string& name, int value) {
  ModelLine& m = must_lookup(name);
  if (m.owner != nullptr && m.owner->state == State::output) {
    throw std::invalid_argument("fake_gpiod: line '" + name + "' is requested as an output");
  }
  const bool high = value != 0;
  if (m.high == high) return;  // no edge, no event
  m.high = high;
  if (m.owner == nullptr || m.owner->state != State::events) return;
  gpiod_line_event event{};
  ::clock_gettime(CLOCK_MONOTONIC, &event.ts);
  event.event_type = high != m.owner->active_low ? GPIOD_LINE_EVENT_RISING_EDGE : GPIOD_LINE_EVENT_FALLING_EDGE;
  // A full pipe drops the event, as the kernel's event FIFO does when nobody reads it.
  (void)!::write(m.owner->feed_fd, &event, sizeof event);
}

int fake_gpiod_output_value(const std::string& name) {
  const ModelLine* m = lookup(name);
  return m == nullptr ? -1 : (m->high ? 1 : 0);
}

void fake_gpiod_fail_next_request(int err) { model().fail_next_request = err; }
void fake_gpiod_fail_next_set(int err) { model().fail_next_set = err; }
void fake_gpiod_fail_next_find(int err) { model().fail_next_find = err; }

void fake_gpiod_hold_line(const std::string& name, const std::string& consumer) {
  ModelLine& m = must_lookup(name);
  m.held_elsewhere = true;
  m.consumer = consumer;
}

void fake_gpiod_remove_line(const std::string& name) {
  ModelLine& m = must_lookup(name);
  m.removed = true;
  // Hang up the event fd so a waiting reader wakes and finds the line gone.
  if (m.owner != nullptr) close_fd(m.owner->feed_fd);
}

bool fake_gpiod_is_requested(const std::string& name) {
  for (auto& line : model().lines) {
    if (line->name == name && line->owner != nullptr) return true;
  }
  return false;
}

int fake_gpiod_open_chips() { return static_cast<int>(model().open_chips.size()); }
