#include "common/thread_pool.h"

namespace faceid {

bool BatchJob::claim(size_t* item) {
  size_t i = next_.fetch_add(1, std::memory_order_relaxed);
  if (i >= count_) return false;
  *item = i;
  return true;
}

void BatchJob::run(size_t item) noexcept {
  try {
    work_(item);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = std::current_exception();
  }
}

void BatchJob::finish_one() {
  if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == count_) {
    std::lock_guard<std::mutex> lock(mutex_);
    cv_.notify_all();
  }
}

void BatchJob::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [this] { return done(); });
  if (error_) std::rethrow_exception(error_);
}

ThreadPool::ThreadPool(int num_threads) {
  workers_.reserve(static_cast<size_t>(num_threads));
  for (int i = 0; i < num_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& worker : workers_) worker.join();
}

std::shared_ptr<BatchJob> ThreadPool::submit(size_t count, std::function<void(size_t)> work) {
  auto job = std::make_shared<BatchJob>(count, std::move(work));
  if (workers_.empty() || count == 0) {
    size_t item = 0;
    while (job->claim(&item)) {
      job->run(item);
      job->finish_one();
    }
    return job;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(job);
  }
  cv_.notify_all();
  return job;
}

void ThreadPool::worker_loop() {
  for (;;) {
    std::shared_ptr<BatchJob> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and nothing left
      job = queue_.front();
    }
    size_t item = 0;
    if (!job->claim(&item)) {
      // Every item of the front job is claimed: retire it so the next job becomes the front.
      std::lock_guard<std::mutex> lock(mutex_);
      if (!queue_.empty() && queue_.front() == job) queue_.pop_front();
      continue;
    }
    job->run(item);  // keeps what the item throws for wait()
    job->finish_one();
  }
}

}  // namespace faceid
