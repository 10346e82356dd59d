// The few Paddle Inference C++ functions faceid calls, resolved at run time from the libpaddle.so that
// `import paddle` already loaded (dlopen RTLD_NOLOAD + dlsym). faceid neither links libpaddle nor
// includes a Paddle header, so `pip install .` builds without Paddle.
//
// The wheel ships no inference headers, so the functions are called through prototypes written here by
// hand, following the Itanium C++ ABI (x86-64 SysV):
//   - a member function takes `this` as its first argument;
//   - a function returning a class that is not trivially copyable (std::string, std::vector,
//     std::shared_ptr, std::unique_ptr) returns it through a hidden pointer to caller-owned, unconstructed
//     storage, passed FIRST, before `this`;
//   - std::string/std::vector/std::shared_ptr/std::unique_ptr cross the boundary as libstdc++ lays them out
//     (new C++11 string ABI, [abi:cxx11]); both sides use the system libstdc++.so.6.
// Paddle's own objects stay opaque: only pointers to them cross. The one exception is
// paddle::AnalysisConfig, which the caller allocates: it is constructed by the exported constructor in a
// 64 KiB buffer (the real object is about 1.6 KB) and destroyed by the exported destructor.
//
// Everything here was written against one Paddle build (kPaddleVersion, kPaddleCommit); load() refuses
// any other one, and any library that lacks one of the symbols.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace faceid::paddle {

constexpr const char* kPaddleVersion = "3.3.1";
constexpr const char* kPaddleCommit = "7688495538f4d6c1893f084dd238a402e8f68ab6";

// Opaque stand-ins for paddle_infer::Predictor and paddle_infer::Tensor (never dereferenced).
struct Predictor;
struct Tensor;

// paddle_infer::PlaceType.
enum class PlaceType : int { kUnknown = -1, kCPU = 0 };

// A paddle::AnalysisConfig in caller-owned storage.
class Config {
 public:
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;
  ~Config();
  void* get() const { return storage_; }

 private:
  friend class Api;
  Config() = default;
  void* storage_ = nullptr;           // 64 KiB, 64-byte aligned
  void (*destroy_)(void*) = nullptr;  // the exported destructor, set once the constructor returned
};

// The resolved functions. Calls let Paddle's exceptions (std::exception) through.
class Api {
 public:
  // The API of the libpaddle.so at `libpaddle_path`, which must be loaded already. Throws
  // std::runtime_error saying why when it is not usable. The result lives until the process exits.
  static const Api& load(const std::string& libpaddle_path);
  // "" when load() would succeed, else the reason.
  static std::string probe(const std::string& libpaddle_path);

  std::string version() const;  // paddle_infer::GetVersion(): "version: X\ncommit: Y\nbranch: Z"

  // AnalysisConfig(prog_file, params_file) set up for CPU inference.
  std::unique_ptr<Config> make_cpu_config(const std::string& prog_file, const std::string& params_file, int threads,
                                          bool onednn, bool bf16) const;
  // The shared_ptr's control block comes from libpaddle, so libpaddle's code deletes the predictor.
  std::shared_ptr<Predictor> create_predictor(const Config& config) const;

  std::vector<std::string> input_names(Predictor* p) const;
  std::vector<std::string> output_names(Predictor* p) const;
  // Handles are never freed: see NativePredictor.
  Tensor* input_handle(Predictor* p, const std::string& name) const;
  Tensor* output_handle(Predictor* p, const std::string& name) const;
  bool run(Predictor* p) const;

  void reshape(Tensor* t, const std::vector<int>& shape) const;
  std::vector<int> shape(const Tensor* t) const;
  float* mutable_data(Tensor* t) const;  // CPU memory for the current shape
  void copy_from_cpu(Tensor* t, const float* data) const;
  void copy_to_cpu(const Tensor* t, float* data) const;

  struct Functions;  // the dlsym'd pointers (paddle_api.cpp)

 private:
  explicit Api(const Functions* fns) : fns_(fns) {}
  const Functions* fns_;  // lives until the process exits, like libpaddle.so itself
};

}  // namespace faceid::paddle
