// Decodes batches of training images (JPEG files or kv .bin files holding JPEGs) straight into a
// caller-owned CHW batch buffer, on a pool of worker threads. Samples that are not JPEG are
// reported back with DecodeStatus::kNotJpeg so the caller can take the slow path for them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "image/preprocess.h"

namespace faceid {

// What became of one sample of a batch (exported to Python as faceid._C.DecodeStatus).
enum class DecodeStatus : uint8_t { kOk = 0, kNotJpeg = 1, kError = 2 };

constexpr size_t kMaxImageFileBytes = size_t{64} << 20;

struct BatchOutput {
  void* data = nullptr;
  OutType type = OutType::kFloat32;
  int height = 0;
  int width = 0;
  size_t sample_bytes() const { return 3 * static_cast<size_t>(height) * width * out_type_size(type); }
};

// One submitted batch: its results are valid once `wait()` returned.
class DecodeJob {
 public:
  DecodeJob() = default;
  DecodeJob(const DecodeJob&) = delete;
  DecodeJob& operator=(const DecodeJob&) = delete;
  // Workers write into this job's vectors and the caller's buffer: never let them outlive it.
  ~DecodeJob() {
    if (!job_) return;
    try {
      job_->wait();
    } catch (...) {  // an item's exception: wait() reports it to whoever asks; a destructor must not throw
    }
  }
  void wait() { job_->wait(); }
  bool done() const { return job_->done(); }
  size_t size() const { return codes_.size(); }
  DecodeStatus code(size_t i) const { return static_cast<DecodeStatus>(codes_[i]); }
  const std::string& message(size_t i) const { return messages_[i]; }

 private:
  friend class BatchDecoder;
  std::vector<int64_t> indices_;
  std::vector<uint8_t> flips_;
  std::vector<uint8_t> codes_;
  std::vector<std::string> messages_;
  BatchOutput out_;
  std::shared_ptr<BatchJob> job_;
};

class BatchDecoder {
 public:
  BatchDecoder(std::vector<std::string> paths, int num_threads, const Normalizer& norm);

  // Starts decoding samples `indices[i]` (flipped where flips[i] != 0) into slot i of `out`.
  // The caller keeps `out` alive until the job is done.
  std::shared_ptr<DecodeJob> submit(std::vector<int64_t> indices, std::vector<uint8_t> flips, BatchOutput out);

  size_t num_samples() const { return paths_.size(); }
  int num_threads() const { return pool_.num_threads(); }
  const std::string& path(size_t i) const { return paths_[i]; }

 private:
  void decode_one(DecodeJob* job, size_t slot) const;

  std::vector<std::string> paths_;
  Normalizer norm_;
  ThreadPool pool_;  // last: its threads stop before the members they use are destroyed
};

// Reads a whole file into `buffer` (bounded by kMaxImageFileBytes); throws DecodeError.
void read_file(const std::string& path, std::vector<uint8_t>* buffer);

}  // namespace faceid
