// SPDX-License-Identifier: Apache-2.0
/// @file
/// A background thread with a bounded job queue, for the console's slow work — scrypt logins,
/// audit chain verification, exports, chart scans — so that it never stalls the daemon's event
/// loop (door decisions and the alarm push run there). Each job's completion is posted back to
/// the loop by the job itself.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace zonegate::adapters::web {

class Worker {
 public:
  /// Starts the thread. `max_queued`: jobs waiting beyond this are refused by submit().
  Worker(std::string name, std::size_t max_queued);
  ~Worker();  ///< runs the jobs already queued, then joins
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Queues a job; false if the queue is full (the caller answers 429) or the worker stopped.
  bool submit(std::function<void()> job);
  /// Stops accepting jobs, finishes the queued ones and joins. Idempotent.
  void stop();

 private:
  void run();

  std::string name_;
  std::size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace zonegate::adapters::web
