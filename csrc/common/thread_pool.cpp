#include "common/thread_pool.h"

#include <pthread.h>

#include <map>

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

namespace {

// The shared pools by size. Deliberately leaked: joining workers while the process exits (static destructors)
// could wait on threads the runtime already stopped. After fork() the child's copies have no threads (and the
// mutex may be held): the child drops them, leaked too, and starts a new registry.
struct SharedPools {
  std::mutex mutex;
  std::map<int, ThreadPool*> pools;
};
SharedPools* shared_pools = nullptr;
std::once_flag shared_pools_once;

void forget_pools_after_fork() { shared_pools = new SharedPools; }

}  // namespace

ThreadPool& shared_thread_pool(int num_threads) {
  std::call_once(shared_pools_once, [] {
    shared_pools = new SharedPools;
    pthread_atfork(nullptr, nullptr, forget_pools_after_fork);
  });
  SharedPools* registry = shared_pools;
  std::lock_guard<std::mutex> lock(registry->mutex);
  ThreadPool*& pool = registry->pools[num_threads];
  if (pool == nullptr) pool = new ThreadPool(num_threads);
  return *pool;
}

}  // namespace faceid
