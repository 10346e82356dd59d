// A fixed pool of worker threads that runs batch jobs: each job is a count of independent items,
// and all workers take items from the oldest unfinished job, so queued jobs form a prefetch ring.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace faceid {

class BatchJob {
 public:
  BatchJob(size_t count, std::function<void(size_t)> work) : count_(count), work_(std::move(work)) {}
  // Blocks until every item has run.
  void wait();
  bool done() const { return finished_.load(std::memory_order_acquire) == count_; }
  size_t size() const { return count_; }

 private:
  friend class ThreadPool;
  // Claims the next item; returns false when none is left to claim.
  bool claim(size_t* item);
  void finish_one();

  const size_t count_;
  std::function<void(size_t)> work_;
  std::atomic<size_t> next_{0};
  std::atomic<size_t> finished_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
};

class ThreadPool {
 public:
  // num_threads == 0: jobs run inline in the submitting thread.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::shared_ptr<BatchJob> submit(size_t count, std::function<void(size_t)> work);
  int num_threads() const { return static_cast<int>(workers_.size()); }

 private:
  void worker_loop();

  std::vector<std::thread> workers_;
  std::deque<std::shared_ptr<BatchJob>> queue_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace faceid
