#include "infer/native_predictor.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "common/check.h"
#include "image/preprocess.h"

namespace faceid {
namespace {

constexpr int kMaxThreads = 256;
constexpr int kMaxPredictors = 256;
constexpr int kMaxBatch = 1 << 16;
constexpr int kMaxSide = 1 << 14;

// Runs one Paddle call, turning its exception (paddle's EnforceNotMet is a std::exception) into a
// std::runtime_error that names the call.
template <typename Fn>
auto paddle_call(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    throw std::runtime_error(concat("Paddle Inference ", what, " failed: ", e.what()));
  } catch (...) {
    throw std::runtime_error(concat("Paddle Inference ", what, " failed with an unknown exception"));
  }
}

void check_file(const std::string& path, const char* name) {
  FACEID_CHECK_ARG(!path.empty(), name, ": expected a file path, got an empty string");
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  FACEID_CHECK_ARG(std::filesystem::exists(status), name, ": no such file: '", path, "'");
  FACEID_CHECK_ARG(std::filesystem::is_regular_file(status), name, ": expected a regular file, got '", path, "'");
}

std::string only_name(const std::vector<std::string>& names, const char* what) {
  if (names.size() != 1)
    throw std::runtime_error(concat("the model must have exactly one ", what, ", it has ", names.size()));
  return names[0];
}

}  // namespace

// A slot taken from the pool for the duration of one call.
class NativePredictor::Lease {
 public:
  explicit Lease(NativePredictor* owner) : owner_(owner), slot_(owner->acquire()) {}
  ~Lease() { owner_->release(slot_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  const Slot& slot() const { return *slot_; }

 private:
  NativePredictor* owner_;
  Slot* slot_;
};

NativePredictor::NativePredictor(const std::string& libpaddle_path, const std::string& model_file,
                                 const std::string& params_file, int threads, bool onednn, bool bf16,
                                 int max_predictors)
    : settings_(checked({model_file, params_file, threads, onednn, bf16, max_predictors})),
      api_(paddle::Api::load(libpaddle_path)) {
  std::shared_ptr<paddle::Predictor> first = create_predictor();
  input_name_ = only_name(paddle_call("GetInputNames", [&] { return api_.input_names(first.get()); }), "input");
  output_name_ =
      only_name(paddle_call("GetOutputNames", [&] { return api_.output_names(first.get()); }), "output");
  slots_.push_back(make_slot(std::move(first)));
  idle_.push_back(slots_.back().get());
}

// The Tensor handles in the slots are leaked on purpose: ~Tensor is inline in Paddle's header and not
// exported, and its layout is not ours to know. That is two small objects (about 100 bytes each) per
// predictor the pool ever made, never used after their predictor is gone and freed only at process exit.
// The predictors themselves go through the deleter in their shared_ptr's control block (libpaddle's).
NativePredictor::~NativePredictor() = default;

NativePredictor::Settings NativePredictor::checked(Settings settings) {
  check_file(settings.model_file, "model_file");
  check_file(settings.params_file, "params_file");
  FACEID_CHECK_ARG(settings.threads >= 1 && settings.threads <= kMaxThreads, "threads: expected 1..", kMaxThreads,
                   ", got ", settings.threads);
  FACEID_CHECK_ARG(settings.onednn || !settings.bf16, "bf16: needs onednn=True");
  FACEID_CHECK_ARG(settings.max_predictors >= 1 && settings.max_predictors <= kMaxPredictors,
                   "max_predictors: expected 1..", kMaxPredictors, ", got ", settings.max_predictors);
  return settings;
}

std::shared_ptr<paddle::Predictor> NativePredictor::create_predictor() const {
  const Settings& s = settings_;
  // One config per predictor, as Paddle asks; the predictor keeps its own copy.
  std::unique_ptr<paddle::Config> config = paddle_call("AnalysisConfig", [&] {
    return api_.make_cpu_config(s.model_file, s.params_file, s.threads, s.onednn, s.bf16);
  });
  std::shared_ptr<paddle::Predictor> predictor =
      paddle_call("CreatePredictor", [&] { return api_.create_predictor(*config); });
  if (!predictor) throw std::runtime_error("Paddle Inference CreatePredictor returned no predictor");
  return predictor;
}

std::unique_ptr<NativePredictor::Slot> NativePredictor::make_slot(std::shared_ptr<paddle::Predictor> predictor) const {
  auto slot = std::make_unique<Slot>();
  slot->input = paddle_call("GetInputHandle", [&] { return api_.input_handle(predictor.get(), input_name_); });
  slot->output = paddle_call("GetOutputHandle", [&] { return api_.output_handle(predictor.get(), output_name_); });
  slot->predictor = std::move(predictor);
  return slot;
}

NativePredictor::Slot* NativePredictor::acquire() {
  std::unique_lock<std::mutex> lock(mutex_);
  const size_t cap = static_cast<size_t>(settings_.max_predictors);
  slot_freed_.wait(lock, [&] { return !idle_.empty() || slots_.size() + creating_ < cap; });
  if (!idle_.empty()) {
    Slot* slot = idle_.back();
    idle_.pop_back();
    return slot;
  }
  // Every predictor is busy and the pool may grow: one more for this caller, made outside the lock.
  ++creating_;
  lock.unlock();
  std::unique_ptr<Slot> slot;
  try {
    slot = make_slot(create_predictor());
  } catch (...) {
    lock.lock();
    --creating_;
    slot_freed_.notify_one();  // a waiting caller may try to make it instead
    throw;
  }
  lock.lock();
  --creating_;
  slots_.push_back(std::move(slot));
  return slots_.back().get();
}

void NativePredictor::release(Slot* slot) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(slot);
  }
  slot_freed_.notify_one();
}

size_t NativePredictor::pool_size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return slots_.size();
}

void NativePredictor::hold(size_t count) {
  for (size_t i = 0; i < count; ++i) {
    Slot* slot = acquire();
    std::lock_guard<std::mutex> lock(mutex_);
    held_.push_back(slot);
  }
}

void NativePredictor::release_held() {
  std::vector<Slot*> held;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    held.swap(held_);
  }
  for (Slot* slot : held) release(slot);
}

int64_t NativePredictor::output_width(const Slot& slot, size_t count) {
  const std::vector<int> shape = paddle_call("Tensor::shape", [&] { return api_.shape(slot.output); });
  if (shape.empty() || shape[0] != static_cast<int>(count))
    throw std::runtime_error(concat("the model's output has shape [", shape.empty() ? -1 : shape[0],
                                    ", ...] for a batch of ", count, "; expected the batch first"));
  int64_t width = 1;
  for (size_t i = 1; i < shape.size(); ++i) width *= shape[i];
  int64_t known = 0;
  if (!output_dim_.compare_exchange_strong(known, width) && known != width)
    throw std::runtime_error(concat("the model's output width changed from ", known, " to ", width));
  return width;
}

void NativePredictor::run_into(const Slot& slot, size_t count, size_t first, size_t total, std::vector<float>* out) {
  const bool ok = paddle_call("Predictor::Run", [&] { return api_.run(slot.predictor.get()); });
  if (!ok) throw std::runtime_error("Paddle Inference Predictor::Run returned false");
  const int64_t width = output_width(slot, count);
  if (out->empty()) out->resize(total * static_cast<size_t>(width));
  float* dst = out->data() + first * static_cast<size_t>(width);
  paddle_call("Tensor::CopyToCpu", [&] { api_.copy_to_cpu(slot.output, dst); });
}

std::vector<float> NativePredictor::embed(const uint8_t* images, size_t n, int height, int width,
                                          const EmbedOptions& options) {
  FACEID_CHECK_ARG(height >= 1 && height <= kMaxSide && width >= 1 && width <= kMaxSide,
                   "images: expected height and width in 1..", kMaxSide, ", got ", height, "x", width);
  FACEID_CHECK_ARG(options.batch_size >= 1 && options.batch_size <= kMaxBatch, "batch_size: expected 1..",
                   kMaxBatch, ", got ", options.batch_size);
  for (float s : options.std) FACEID_CHECK_ARG(s != 0.0f, "std: expected non-zero values, got ", s);
  std::vector<float> out;
  if (n == 0) return out;
  const Normalizer norm(options.mean, options.std);
  const size_t image_values = static_cast<size_t>(height) * width * 3;  // bytes in, floats out
  Lease lease(this);
  const Slot& slot = lease.slot();
  for (size_t first = 0; first < n; first += static_cast<size_t>(options.batch_size)) {
    const size_t count = std::min(n - first, static_cast<size_t>(options.batch_size));
    const std::vector<int> shape{static_cast<int>(count), 3, height, width};
    paddle_call("Tensor::Reshape", [&] { api_.reshape(slot.input, shape); });
    float* dst = paddle_call("Tensor::mutable_data", [&] { return api_.mutable_data(slot.input); });
    for (size_t i = 0; i < count; ++i)
      hwc_to_chw(images + (first + i) * image_values, height, width, false, options.src_is_bgr, norm,
                 OutType::kFloat32, dst + i * image_values);
    run_into(slot, count, first, n, &out);
  }
  return out;
}

std::vector<float> NativePredictor::run_raw(const float* input, const std::vector<int>& shape) {
  FACEID_CHECK_ARG(!shape.empty() && shape[0] >= 1, "input: expected a batch of at least one sample");
  for (int d : shape) FACEID_CHECK_ARG(d >= 1, "input: expected positive dimensions, got ", d);
  std::vector<float> out;
  Lease lease(this);
  const Slot& slot = lease.slot();
  paddle_call("Tensor::Reshape", [&] { api_.reshape(slot.input, shape); });
  paddle_call("Tensor::CopyFromCpu", [&] { api_.copy_from_cpu(slot.input, input); });
  run_into(slot, static_cast<size_t>(shape[0]), 0, static_cast<size_t>(shape[0]), &out);
  return out;
}

}  // namespace faceid
