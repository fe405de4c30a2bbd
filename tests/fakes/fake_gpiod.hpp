// SPDX-License-Identifier: Apache-2.0
/// @file
/// Control side of a link-time fake of libgpiod v1 (fake_gpiod.cpp). A test program links the
/// GPIO adapter's code with fake_gpiod.cpp instead of -lgpiod; the fake implements exactly the
/// gpiod_* functions the adapter calls, with the prototypes of <gpiod.h>, over an in-memory model
/// of chips and named lines. Edge events travel through a pipe per requested input, so the
/// adapter's fd waiting runs unchanged.
///
/// Levels given to and read from this API are physical (the wire); active-low is applied by the
/// fake exactly where the kernel applies it (values and event types seen through the gpiod_* API).
/// Not thread-safe: use from the test's thread.
#pragma once

#include <string>

/// Forgets every line and pending fault. Handles still open keep working as if their chip had
/// vanished (operations fail with ENODEV), so close the adapter before resetting.
void fake_gpiod_reset();

/// Adds a line named `name` at `offset` of chip `chip` (e.g. "gpiochip0"), physically low.
/// gpiod_line_find() returns the first match in order of addition, like libgpiod's chip scan.
void fake_gpiod_add_line(const std::string& chip, unsigned offset, const std::string& name);

/// Drives an input's wire level (like gpio-sim's pull). If the level changes and the line is
/// requested for edge events, one event (CLOCK_MONOTONIC timestamp) is written to its pipe.
/// @throws std::invalid_argument for an unknown line or one requested as an output.
void fake_gpiod_set_input(const std::string& name, int value);

/// The wire level of a line (what an output drives); -1 for an unknown line.
int fake_gpiod_output_value(const std::string& name);

/// The next line request (input or output) fails with this errno.
void fake_gpiod_fail_next_request(int err);
/// The next gpiod_line_set_value() fails with this errno.
void fake_gpiod_fail_next_set(int err);
/// The next gpiod_line_find() fails with this errno (ENOENT looks like an unknown name).
void fake_gpiod_fail_next_find(int err);

/// Another process holds the line (requests fail with EBUSY, gpiod_line_consumer names it).
void fake_gpiod_hold_line(const std::string& name, const std::string& consumer);

/// The line vanishes (its chip was unbound): lookups fail with ENOENT, a requested input's event
/// fd hangs up and reads fail with ENODEV, value calls fail with ENODEV.
void fake_gpiod_remove_line(const std::string& name);

/// Whether this process (through the fake) holds the line requested.
bool fake_gpiod_is_requested(const std::string& name);

/// Chip handles opened by gpiod_line_find() and not yet closed: 0 after a clean close().
int fake_gpiod_open_chips();
