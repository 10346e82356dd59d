// A Paddle Inference predictor driven from C++: uint8 face crops in, embeddings out, with the
// preprocessing (normalise + colour order + HWC->CHW, the kernel of image/preprocess.h) written straight
// into the input tensor. Callers on several threads run concurrently, each on a predictor of its own from a
// pool that grows to the most concurrent callers seen, up to `max_predictors`; past that, callers wait for a
// predictor to come free. The pool's predictors are independent
// (CreatePredictor, each from its own config), not Predictor::Clone()s: in Paddle 3.3.1 clones of a legacy
// .pdmodel oneDNN predictor share weights that a run converts to oneDNN layouts, and then other clones fail
// ("fused_conv2d ... Filter tensor's layout should be ONEDNN"). The cost is one copy of the weights per
// predictor in the pool. No Python here: the bindings release the GIL around calls.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "infer/paddle_api.h"

namespace faceid {

struct EmbedOptions {
  bool src_is_bgr = true;                             // the images are BGR (else RGB); the model gets RGB
  std::array<float, 3> mean{127.5f, 127.5f, 127.5f};  // per RGB channel
  std::array<float, 3> std{127.5f, 127.5f, 127.5f};   // per RGB channel
  int batch_size = 32;                                // images per Run()
};

class NativePredictor {
 public:
  // Throws ArgumentError for bad arguments, std::runtime_error when Paddle is not usable or fails.
  NativePredictor(const std::string& libpaddle_path, const std::string& model_file, const std::string& params_file,
                  int threads, bool onednn, bool bf16, int max_predictors);
  ~NativePredictor();
  NativePredictor(const NativePredictor&) = delete;
  NativePredictor& operator=(const NativePredictor&) = delete;

  // `n` uint8 (height, width, 3) images stored back to back -> n * output_dim() floats, row-major.
  std::vector<float> embed(const uint8_t* images, size_t n, int height, int width, const EmbedOptions& options);
  // One Run() on a float32 tensor of `shape` (shape[0] = batch) -> shape[0] * output_dim() floats.
  std::vector<float> run_raw(const float* input, const std::vector<int>& shape);

  // Values per sample of the output; 0 until the first run.
  int64_t output_dim() const { return output_dim_.load(); }
  // Predictors in the pool: the most callers that ever ran at once, at least 1, at most max_predictors().
  size_t pool_size() const;
  int max_predictors() const { return settings_.max_predictors; }

  // Test hooks: take `count` predictors from the pool (waiting like a caller) and keep them until
  // release_held(), so that a test can make other callers overlap with them.
  void hold(size_t count);
  void release_held();

 private:
  struct Settings {
    std::string model_file;
    std::string params_file;
    int threads;
    bool onednn;
    bool bf16;
    int max_predictors;
  };
  struct Slot {
    std::shared_ptr<paddle::Predictor> predictor;
    paddle::Tensor* input = nullptr;  // handles: never freed (see ~NativePredictor)
    paddle::Tensor* output = nullptr;
  };
  class Lease;

  static Settings checked(Settings settings);
  std::shared_ptr<paddle::Predictor> create_predictor() const;
  std::unique_ptr<Slot> make_slot(std::shared_ptr<paddle::Predictor> predictor) const;
  Slot* acquire();
  void release(Slot* slot);
  // Run() on the slot, then copies its (count, ...) output to rows [first, first + count) of `out`,
  // which is sized to `total` rows once the output width is known.
  void run_into(const Slot& slot, size_t count, size_t first, size_t total, std::vector<float>* out);
  int64_t output_width(const Slot& slot, size_t count);

  const Settings settings_;  // checked before api_ loads
  const paddle::Api& api_;
  std::string input_name_;   // of the model's only input
  std::string output_name_;  // of the model's only output
  std::atomic<int64_t> output_dim_{0};
  mutable std::mutex mutex_;
  std::condition_variable slot_freed_;        // signalled when a slot goes idle or a creation fails
  std::vector<std::unique_ptr<Slot>> slots_;  // guarded by mutex_
  std::vector<Slot*> idle_;                   // guarded by mutex_
  size_t creating_ = 0;                       // guarded by mutex_: predictors being made outside the lock
  std::vector<Slot*> held_;                   // guarded by mutex_: taken by hold()
};

}  // namespace faceid
