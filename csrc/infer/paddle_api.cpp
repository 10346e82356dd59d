#include "infer/paddle_api.h"

// The prototypes below follow the x86-64 Itanium ABI and libstdc++'s C++11 string ABI, as libpaddle.so does.
#if defined(__linux__) && defined(__x86_64__) && defined(__GLIBCXX__) && _GLIBCXX_USE_CXX11_ABI
#define FACEID_PADDLE_ABI 1
#include <dlfcn.h>
#else
#define FACEID_PADDLE_ABI 0
#endif

#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>

#include "common/check.h"

namespace faceid::paddle {
namespace {

constexpr size_t kConfigStorage = size_t{1} << 16;
constexpr std::align_val_t kConfigAlign{64};

// std::unique_ptr<T> (default deleter) as returned by Paddle: one pointer, returned through the hidden
// pointer because unique_ptr is not trivially copyable. faceid only ever release()s it, so the deleter
// here does nothing (the layout does not depend on an empty deleter).
template <typename T>
struct NoDelete {
  void operator()(T*) const noexcept {}
};
template <typename T>
using UniquePtr = std::unique_ptr<T, NoDelete<T>>;
static_assert(sizeof(UniquePtr<Tensor>) == sizeof(void*), "unique_ptr is expected to be one pointer");

// Calls `fn(&slot, args...)`, where fn constructs its result in the unconstructed `slot` (the hidden
// return pointer of the Itanium ABI), and moves the result out.
template <typename T, typename Fn, typename... Args>
T call_returning(Fn fn, Args&&... args) {
  alignas(T) unsigned char slot[sizeof(T)];
  T* result = reinterpret_cast<T*>(slot);
  fn(result, std::forward<Args>(args)...);
  T value = std::move(*std::launder(result));
  std::launder(result)->~T();
  return value;
}

}  // namespace

struct Api::Functions {
  // Free functions.
  void (*get_version)(std::string* ret);
  void (*create_predictor)(std::shared_ptr<Predictor>* ret, const void* config);
  // paddle::AnalysisConfig members (`self` is the config storage).
  void (*config_ctor)(void* self, const std::string& prog_file, const std::string& params_file);
  void (*config_dtor)(void* self);
  void (*enable_onednn)(void* self);
  void (*disable_onednn)(void* self);
  void (*enable_onednn_bf16)(void* self);
  void (*set_math_threads)(void* self, int threads);
  void (*disable_glog_info)(void* self);
  void (*disable_gpu)(void* self);
  // paddle_infer::Predictor members.
  void (*input_names)(std::vector<std::string>* ret, Predictor* self);
  void (*output_names)(std::vector<std::string>* ret, Predictor* self);
  void (*input_handle)(UniquePtr<Tensor>* ret, Predictor* self, const std::string& name);
  void (*output_handle)(UniquePtr<Tensor>* ret, Predictor* self, const std::string& name);
  bool (*run)(Predictor* self);
  // paddle_infer::Tensor members.
  void (*reshape)(Tensor* self, const std::vector<int>& shape);
  void (*shape)(std::vector<int>* ret, const Tensor* self);
  float* (*mutable_data)(Tensor* self, PlaceType place);
  void (*copy_from_cpu)(Tensor* self, const float* data);
  void (*copy_to_cpu)(const Tensor* self, float* data);
};

namespace {

#if FACEID_PADDLE_ABI
struct Symbol {
  const char* mangled;
  const char* readable;
};

// Resolves every symbol or says which one is missing.
class Resolver {
 public:
  explicit Resolver(void* lib) : lib_(lib) {}
  template <typename Fn>
  void operator()(Fn* fn, Symbol symbol) {
    void* address = dlsym(lib_, symbol.mangled);
    if (!address && missing_.empty()) missing_ = concat(symbol.readable, " (", symbol.mangled, ")");
    *fn = reinterpret_cast<Fn>(address);
  }
  const std::string& missing() const { return missing_; }

 private:
  void* lib_;
  std::string missing_;
};

void resolve_all(Resolver& r, Api::Functions* f) {
  r(&f->get_version, {"_ZN12paddle_infer10GetVersionB5cxx11Ev", "paddle_infer::GetVersion()"});
  r(&f->create_predictor, {"_ZN12paddle_infer15CreatePredictorERKN6paddle14AnalysisConfigE",
                           "paddle_infer::CreatePredictor(paddle::AnalysisConfig const&)"});
  r(&f->config_ctor, {"_ZN6paddle14AnalysisConfigC1ERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEES8_",
                      "paddle::AnalysisConfig::AnalysisConfig(std::string const&, std::string const&)"});
  r(&f->config_dtor, {"_ZN6paddle14AnalysisConfigD1Ev", "paddle::AnalysisConfig::~AnalysisConfig()"});
  r(&f->enable_onednn, {"_ZN6paddle14AnalysisConfig12EnableONEDNNEv", "paddle::AnalysisConfig::EnableONEDNN()"});
  r(&f->disable_onednn, {"_ZN6paddle14AnalysisConfig13DisableONEDNNEv", "paddle::AnalysisConfig::DisableONEDNN()"});
  r(&f->enable_onednn_bf16,
    {"_ZN6paddle14AnalysisConfig20EnableOnednnBfloat16Ev", "paddle::AnalysisConfig::EnableOnednnBfloat16()"});
  r(&f->set_math_threads, {"_ZN6paddle14AnalysisConfig27SetCpuMathLibraryNumThreadsEi",
                           "paddle::AnalysisConfig::SetCpuMathLibraryNumThreads(int)"});
  r(&f->disable_glog_info,
    {"_ZN6paddle14AnalysisConfig15DisableGlogInfoEv", "paddle::AnalysisConfig::DisableGlogInfo()"});
  r(&f->disable_gpu, {"_ZN6paddle14AnalysisConfig10DisableGpuEv", "paddle::AnalysisConfig::DisableGpu()"});
  r(&f->input_names,
    {"_ZN12paddle_infer9Predictor13GetInputNamesB5cxx11Ev", "paddle_infer::Predictor::GetInputNames()"});
  r(&f->output_names,
    {"_ZN12paddle_infer9Predictor14GetOutputNamesB5cxx11Ev", "paddle_infer::Predictor::GetOutputNames()"});
  r(&f->input_handle,
    {"_ZN12paddle_infer9Predictor14GetInputHandleERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE",
     "paddle_infer::Predictor::GetInputHandle(std::string const&)"});
  r(&f->output_handle,
    {"_ZN12paddle_infer9Predictor15GetOutputHandleERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE",
     "paddle_infer::Predictor::GetOutputHandle(std::string const&)"});
  r(&f->run, {"_ZN12paddle_infer9Predictor3RunEv", "paddle_infer::Predictor::Run()"});
  r(&f->reshape, {"_ZN12paddle_infer6Tensor7ReshapeERKSt6vectorIiSaIiEE",
                  "paddle_infer::Tensor::Reshape(std::vector<int> const&)"});
  r(&f->shape, {"_ZNK12paddle_infer6Tensor5shapeEv", "paddle_infer::Tensor::shape() const"});
  r(&f->mutable_data, {"_ZN12paddle_infer6Tensor12mutable_dataIfEEPT_NS_9PlaceTypeE",
                       "paddle_infer::Tensor::mutable_data<float>(paddle_infer::PlaceType)"});
  r(&f->copy_from_cpu, {"_ZN12paddle_infer6Tensor11CopyFromCpuIfEEvPKT_",
                        "paddle_infer::Tensor::CopyFromCpu<float>(float const*)"});
  r(&f->copy_to_cpu,
    {"_ZNK12paddle_infer6Tensor9CopyToCpuIfEEvPT_", "paddle_infer::Tensor::CopyToCpu<float>(float*) const"});
}

// The value after `key` on its line of GetVersion()'s text, e.g. "3.3.1" for "version: ".
std::string version_field(const std::string& text, const std::string& key) {
  const size_t at = text.find(key);
  if (at == std::string::npos) return "";
  const size_t begin = at + key.size();
  return text.substr(begin, text.find('\n', begin) - begin);
}

// "" when the library reports the build this code was written against.
std::string check_version(const Api& api) {
  const std::string text = api.version();
  const std::string version = version_field(text, "version: ");
  const std::string commit = version_field(text, "commit: ");
  const std::string expected_commit = kPaddleCommit;
  const bool commit_ok = commit.size() >= 7 && expected_commit.compare(0, commit.size(), commit) == 0;
  if (version == kPaddleVersion && commit_ok) return "";
  return concat("faceid's native predictor was written against Paddle ", kPaddleVersion, " (commit ",
                expected_commit.substr(0, 7), "), but libpaddle.so reports version '", version, "' commit '",
                commit, "'");
}

std::string not_loaded(const std::string& path) {
  const char* error = dlerror();
  return concat("libpaddle.so is not loaded from '", path, "' in this process (import paddle first)",
                error ? concat(": ", error) : std::string());
}

#endif  // FACEID_PADDLE_ABI

}  // namespace

Config::~Config() {
  if (destroy_) destroy_(storage_);
  ::operator delete(storage_, kConfigAlign);
}

const Api& Api::load(const std::string& libpaddle_path) {
  static std::mutex mutex;
  static std::map<std::string, const Api*> loaded;  // never freed: like the library, they stay
  std::lock_guard<std::mutex> lock(mutex);
  auto it = loaded.find(libpaddle_path);
  if (it != loaded.end()) return *it->second;
#if !FACEID_PADDLE_ABI
  throw std::runtime_error("the native predictor runs on Linux x86-64 with libstdc++ (C++11 ABI) only");
#else
  dlerror();  // clears an earlier error
  // The handle is never closed: the function pointers are used until the process exits.
  void* lib = dlopen(libpaddle_path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (!lib) throw std::runtime_error(not_loaded(libpaddle_path));
  auto fns = std::make_unique<Functions>();
  Resolver resolver(lib);
  resolve_all(resolver, fns.get());
  if (!resolver.missing().empty())
    throw std::runtime_error(concat("libpaddle.so at '", libpaddle_path, "' does not export ", resolver.missing()));
  std::unique_ptr<Api> api(new Api(fns.get()));
  std::string why;
  try {
    why = check_version(*api);
  } catch (const std::exception& e) {
    why = concat("paddle_infer::GetVersion() failed: ", e.what());
  }
  if (!why.empty()) throw std::runtime_error(why);
  fns.release();
  loaded.emplace(libpaddle_path, api.get());
  return *api.release();
#endif
}

std::string Api::probe(const std::string& libpaddle_path) {
  try {
    load(libpaddle_path);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::string Api::version() const { return call_returning<std::string>(fns_->get_version); }

std::unique_ptr<Config> Api::make_cpu_config(const std::string& prog_file, const std::string& params_file,
                                             int threads, bool onednn, bool bf16) const {
  std::unique_ptr<Config> config(new Config());
  config->storage_ = ::operator new(kConfigStorage, kConfigAlign);
  std::memset(config->storage_, 0, kConfigStorage);
  fns_->config_ctor(config->storage_, prog_file, params_file);
  config->destroy_ = fns_->config_dtor;
  void* self = config->storage_;
  fns_->disable_gpu(self);
  fns_->disable_glog_info(self);
  fns_->set_math_threads(self, threads);
  if (onednn) {
    fns_->enable_onednn(self);
    if (bf16) fns_->enable_onednn_bf16(self);
  } else {
    fns_->disable_onednn(self);
  }
  return config;
}

std::shared_ptr<Predictor> Api::create_predictor(const Config& config) const {
  return call_returning<std::shared_ptr<Predictor>>(fns_->create_predictor, config.get());
}

std::vector<std::string> Api::input_names(Predictor* p) const {
  return call_returning<std::vector<std::string>>(fns_->input_names, p);
}

std::vector<std::string> Api::output_names(Predictor* p) const {
  return call_returning<std::vector<std::string>>(fns_->output_names, p);
}

Tensor* Api::input_handle(Predictor* p, const std::string& name) const {
  return call_returning<UniquePtr<Tensor>>(fns_->input_handle, p, name).release();
}

Tensor* Api::output_handle(Predictor* p, const std::string& name) const {
  return call_returning<UniquePtr<Tensor>>(fns_->output_handle, p, name).release();
}

bool Api::run(Predictor* p) const { return fns_->run(p); }

void Api::reshape(Tensor* t, const std::vector<int>& shape) const { fns_->reshape(t, shape); }

std::vector<int> Api::shape(const Tensor* t) const { return call_returning<std::vector<int>>(fns_->shape, t); }

float* Api::mutable_data(Tensor* t) const { return fns_->mutable_data(t, PlaceType::kCPU); }

void Api::copy_from_cpu(Tensor* t, const float* data) const { fns_->copy_from_cpu(t, data); }

void Api::copy_to_cpu(const Tensor* t, float* data) const { fns_->copy_to_cpu(t, data); }

}  // namespace faceid::paddle
