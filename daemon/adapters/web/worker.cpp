// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/worker.hpp"

#include <pthread.h>

#include <utility>

namespace zonegate::adapters::web {

Worker::Worker(std::string name, std::size_t max_queued) : name_(std::move(name)), max_queued_(max_queued) {
  thread_ = std::thread([this] { run(); });
  // Named threads make `top -H` and core dumps readable; Linux allows 15 characters.
  pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());
}

Worker::~Worker() { stop(); }

bool Worker::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || jobs_.size() >= max_queued_) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void Worker::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Worker::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace zonegate::adapters::web
