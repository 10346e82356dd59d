// A fixed pool of worker threads that runs batch jobs: each job is a count of independent items,
// and all workers take items from the oldest unfinished job, so queued jobs form a prefetch ring.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace faceid {

class BatchJob {
 public:
  BatchJob(size_t count, std::function<void(size_t)> work) : count_(count), work_(std::move(work)) {}
  // Blocks until every item has run; then rethrows the first exception an item threw, if any (the other
  // items still ran).
  void wait();
  bool done() const { return finished_.load(std::memory_order_acquire) == count_; }
  size_t size() const { return count_; }

 private:
  friend class ThreadPool;
  // Claims the next item; returns false when none is left to claim.
  bool claim(size_t* item);
  // Runs one claimed item, keeping what it throws for wait(): nothing escapes into a worker thread.
  void run(size_t item) noexcept;
  void finish_one();

  const size_t count_;
  std::function<void(size_t)> work_;
  std::atomic<size_t> next_{0};
  std::atomic<size_t> finished_{0};
  std::mutex mutex_;
  std::exception_ptr error_;  // guarded by mutex_: the first exception an item threw
  std::condition_variable cv_;
};

class ThreadPool {
 public:
  // num_threads == 0: jobs run inline in the submitting thread.
  explicit ThreadPool(int num_threads);
  // Finishes every queued job, then joins the workers: blocks for as long as that takes (callers that hold
  // a lock other threads' items need, such as Python's GIL, release it first).
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

// A process-wide pool of `num_threads` (>= 1) workers for short native ops, made on first use and kept until the
// process exits (never joined). A child process made by fork() starts with none: it makes its own.
ThreadPool& shared_thread_pool(int num_threads);

}  // namespace faceid
