// The module itself and the Python face of csrc/image and csrc/cuda (decode, preprocess, warp, the batch
// decoder): argument checks, GIL handling, exception translation. infer_bindings.cpp, detect_bindings.cpp and
// gallery_bindings.cpp add the other native ops; bindings/ is the only folder that includes pybind11.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <jpeglib.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bindings/array_utils.h"
#include "common/check.h"
#include "common/simd.h"
#include "common/thread_pool.h"
#include "cuda/cuda_ops.h"
#include "image/batch_decoder.h"
#include "image/jpeg_decode.h"
#include "image/warp.h"
#include "formats/kvbin.h"
#include "image/preprocess.h"

namespace py = pybind11;
using faceid::ArgumentError;
namespace faceid { void register_infer_bindings(py::module_& m); }  // infer_bindings.cpp
namespace faceid { void register_detect_bindings(py::module_& m); }  // detect_bindings.cpp
namespace faceid { void register_gallery_bindings(py::module_& m); }  // gallery_bindings.cpp

namespace {

using faceid::bindings::check_c_contiguous;
using faceid::bindings::check_dtype;
using faceid::bindings::check_std;
using faceid::bindings::dtype_of;
using faceid::bindings::shape_of;
using faceid::bindings::Triple;

faceid::OutType out_type_of(const py::array& out, const char* name) {
  if (out.dtype().is(py::dtype::of<float>())) return faceid::OutType::kFloat32;
  if (out.dtype().is(py::dtype("float16"))) return faceid::OutType::kFloat16;
  if (out.dtype().is(py::dtype::of<uint8_t>())) return faceid::OutType::kUInt8;
  throw ArgumentError(faceid::concat(name, ": expected dtype float32, float16 or uint8, got ", dtype_of(out)));
}

// A writable C-contiguous (N, 3, H, W) batch buffer.
void check_batch_buffer(const py::array& out, const char* name) {
  FACEID_CHECK_ARG(out.ndim() == 4 && out.shape(1) == 3, name, ": expected shape (N, 3, H, W), got ",
                   shape_of(out));
  check_c_contiguous(out, name);
  FACEID_CHECK_ARG(out.writeable(), name, ": expected a writable array");
}

std::vector<int64_t> as_indices(const py::array& a, const char* name) {
  FACEID_CHECK_ARG(a.ndim() == 1, name, ": expected a 1-D integer array, got shape ", shape_of(a));
  auto cast = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  FACEID_CHECK_ARG(cast && (a.dtype().kind() == 'i' || a.dtype().kind() == 'u'), name,
                   ": expected an integer array, got ", dtype_of(a));
  return std::vector<int64_t>(cast.data(), cast.data() + cast.size());
}

std::vector<uint8_t> as_flips(const py::array& a, size_t n, const char* name) {
  FACEID_CHECK_ARG(a.ndim() == 1 && static_cast<size_t>(a.shape(0)) == n, name, ": expected shape (", n,
                   ",), got ", shape_of(a));
  FACEID_CHECK_ARG(a.dtype().kind() == 'b' || a.dtype().kind() == 'u' || a.dtype().kind() == 'i', name,
                   ": expected a bool or integer array, got ", dtype_of(a));
  auto cast = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(a);
  return std::vector<uint8_t>(cast.data(), cast.data() + cast.size());
}

// Bytes-like argument as a view (bytes, bytearray, memoryview or a uint8 numpy array).
struct BufferView {
  py::buffer_info info;
  const uint8_t* data() const { return static_cast<const uint8_t*>(info.ptr); }
  size_t size() const { return static_cast<size_t>(info.size * info.itemsize); }
};

BufferView view_bytes(const py::buffer& obj, const char* name) {
  py::buffer_info info = obj.request();
  FACEID_CHECK_ARG(info.itemsize == 1, name, ": expected a bytes-like object of single bytes, got itemsize ",
                   info.itemsize);
  bool contiguous = true;
  py::ssize_t expected = 1;
  for (py::ssize_t d = info.ndim - 1; d >= 0; --d) {
    if (info.shape[d] != 1 && info.strides[d] != expected) contiguous = false;
    expected *= info.shape[d];
  }
  FACEID_CHECK_ARG(contiguous, name, ": expected a contiguous buffer");
  return BufferView{std::move(info)};
}

class ImageSink : public faceid::RowSink {
 public:
  explicit ImageSink(size_t max_pixels) : max_pixels_(max_pixels) {}
  void begin(int width, int height) override {
    FACEID_CHECK_DATA(static_cast<size_t>(width) * height <= max_pixels_, "image is ", width, "x", height,
                      ", more than max_pixels=", max_pixels_);
    width_ = width;
    height_ = height;
    pixels_.resize(static_cast<size_t>(width) * height * 3);
  }
  void row(const uint8_t* rgb, int y) override {
    std::memcpy(pixels_.data() + static_cast<size_t>(y) * width_ * 3, rgb, static_cast<size_t>(width_) * 3);
  }
  bool accepts_planar() const override { return true; }
  void planar_row(const uint8_t* r, const uint8_t* g, const uint8_t* b, int y) override {
    uint8_t* out = pixels_.data() + static_cast<size_t>(y) * width_ * 3;
    for (int x = 0; x < width_; ++x) {
      out[3 * x] = r[x];
      out[3 * x + 1] = g[x];
      out[3 * x + 2] = b[x];
    }
  }
  int width_ = 0, height_ = 0;
  std::vector<uint8_t> pixels_;

 private:
  size_t max_pixels_;
};

py::array_t<uint8_t> decode_jpeg(const py::buffer& data, size_t max_pixels) {
  BufferView view = view_bytes(data, "data");
  ImageSink sink(max_pixels);
  {
    py::gil_scoped_release release;
    faceid::thread_jpeg_decoder().decode(view.data(), view.size(), &sink);
  }
  py::array_t<uint8_t> image({sink.height_, sink.width_, 3});
  std::memcpy(image.mutable_data(), sink.pixels_.data(), sink.pixels_.size());
  return image;
}

py::bytes parse_kv_record(const py::buffer& data) {
  BufferView view = view_bytes(data, "data");
  std::string storage;
  faceid::ByteView image = faceid::parse_kv_record(view.data(), view.size(), &storage);
  return py::bytes(reinterpret_cast<const char*>(image.data), image.size);
}

py::bytes parse_pickled_bytes(const py::buffer& data) {
  BufferView view = view_bytes(data, "data");
  std::string storage;
  faceid::ByteView image = faceid::parse_pickled_bytes(view.data(), view.size(), &storage);
  return py::bytes(reinterpret_cast<const char*>(image.data), image.size);
}

void hwc_to_chw(const py::array& src, const py::array& flips, py::array& out, Triple mean, Triple std,
                bool src_is_bgr) {
  FACEID_CHECK_ARG(src.ndim() == 4 && src.shape(3) == 3, "src: expected shape (N, H, W, 3), got ", shape_of(src));
  check_dtype<uint8_t>(src, "src", "uint8");
  check_c_contiguous(src, "src");
  check_batch_buffer(out, "out");
  FACEID_CHECK_ARG(out.shape(0) == src.shape(0) && out.shape(2) == src.shape(1) && out.shape(3) == src.shape(2),
                   "out: expected shape (", src.shape(0), ", 3, ", src.shape(1), ", ", src.shape(2), "), got ",
                   shape_of(out));
  check_std(std);
  const size_t n = static_cast<size_t>(src.shape(0));
  std::vector<uint8_t> flip = as_flips(flips, n, "flips");
  const faceid::OutType type = out_type_of(out, "out");
  const int h = static_cast<int>(src.shape(1)), w = static_cast<int>(src.shape(2));
  const auto* in = static_cast<const uint8_t*>(src.data());
  auto* dst = static_cast<uint8_t*>(out.mutable_data());
  const size_t in_stride = static_cast<size_t>(h) * w * 3;
  const size_t out_stride = in_stride * faceid::out_type_size(type);
  py::gil_scoped_release release;
  faceid::Normalizer norm(mean, std);
  for (size_t i = 0; i < n; ++i)
    faceid::hwc_to_chw(in + i * in_stride, h, w, flip[i] != 0, src_is_bgr, norm, type, dst + i * out_stride);
}

// One image, N affine maps -> (N, 3, size, size) float32: the aligned faces, normalised for the model.
py::array_t<float> warp_faces(const py::array& image, const py::array& matrices, int size, Triple mean, Triple std,
                              bool src_is_bgr) {
  FACEID_CHECK_ARG(image.ndim() == 3 && image.shape(2) == 3, "image: expected shape (H, W, 3), got ",
                   shape_of(image));
  check_dtype<uint8_t>(image, "image", "uint8");
  check_c_contiguous(image, "image");
  FACEID_CHECK_ARG(image.shape(0) > 0 && image.shape(1) > 0, "image: expected a non-empty image, got ",
                   shape_of(image));
  FACEID_CHECK_ARG(matrices.ndim() == 3 && matrices.shape(1) == 2 && matrices.shape(2) == 3,
                   "matrices: expected shape (N, 2, 3), got ", shape_of(matrices));
  check_dtype<double>(matrices, "matrices", "float64");
  check_c_contiguous(matrices, "matrices");
  FACEID_CHECK_ARG(size >= 1 && size <= 4096, "size: expected 1..4096, got ", size);
  check_std(std);
  const size_t n = static_cast<size_t>(matrices.shape(0));
  const auto* forward = static_cast<const double*>(matrices.data());
  // The maps given are source -> output (as for cv2.warpAffine); sampling needs their inverses.
  std::vector<std::array<double, 6>> inverse(n);
  for (size_t i = 0; i < n; ++i) {
    try {
      inverse[i] = faceid::invert_affine(forward + 6 * i);
    } catch (const ArgumentError& e) {
      throw ArgumentError(faceid::concat("matrices[", i, "]: ", e.what()));
    }
  }
  py::array_t<float> out({static_cast<py::ssize_t>(n), py::ssize_t{3}, py::ssize_t{size}, py::ssize_t{size}});
  faceid::WarpOptions options;
  options.src_is_bgr = src_is_bgr;
  options.mean = mean;
  options.std = std;
  const auto* pixels = static_cast<const uint8_t*>(image.data());
  const int h = static_cast<int>(image.shape(0)), w = static_cast<int>(image.shape(1));
  float* dst = out.mutable_data();
  const size_t stride = 3 * static_cast<size_t>(size) * size;
  py::gil_scoped_release release;
  for (size_t i = 0; i < n; ++i)
    faceid::warp_affine_chw(pixels, h, w, inverse[i].data(), size, size, options, dst + i * stride);
  return out;
}

// A submitted batch. Keeps the output buffer alive and waits for the workers before letting go.
class PendingBatch {
 public:
  PendingBatch(std::shared_ptr<faceid::DecodeJob> job, py::array out) : job_(std::move(job)), out_(std::move(out)) {}
  ~PendingBatch() {
    py::gil_scoped_release release;
    job_.reset();  // ~DecodeJob waits for the workers
  }
  // [(slot, DecodeStatus, message)] for every sample that is not OK.
  py::list wait() {
    {
      py::gil_scoped_release release;
      job_->wait();
    }
    py::list failures;
    for (size_t i = 0; i < job_->size(); ++i) {
      if (job_->code(i) != faceid::DecodeStatus::kOk)
        failures.append(py::make_tuple(i, job_->code(i), job_->message(i)));
    }
    return failures;
  }
  bool done() const { return job_->done(); }
  py::array out() const { return out_; }

 private:
  std::shared_ptr<faceid::DecodeJob> job_;
  py::array out_;
};

class PyBatchDecoder {
 public:
  PyBatchDecoder(std::vector<std::string> paths, int num_threads, Triple mean, Triple std)
      : decoder_(std::make_unique<faceid::BatchDecoder>(std::move(paths), check_threads(num_threads),
                                                        make_norm(mean, std))) {}
  // The pool finishes the batches still queued before it stops: wait for that without the GIL (an item may
  // wait on another Python thread, e.g. one feeding a pipe it reads).
  ~PyBatchDecoder() {
    py::gil_scoped_release release;
    decoder_.reset();
  }
  PyBatchDecoder(const PyBatchDecoder&) = delete;
  PyBatchDecoder& operator=(const PyBatchDecoder&) = delete;

  std::unique_ptr<PendingBatch> submit(const py::array& indices, const py::array& flips, py::array out) {
    std::vector<int64_t> idx = as_indices(indices, "indices");
    std::vector<uint8_t> flip = as_flips(flips, idx.size(), "flips");
    check_batch_buffer(out, "out");
    FACEID_CHECK_ARG(static_cast<size_t>(out.shape(0)) >= idx.size(), "out: expected at least ", idx.size(),
                     " samples, got shape ", shape_of(out));
    faceid::BatchOutput target{out.mutable_data(), out_type_of(out, "out"), static_cast<int>(out.shape(2)),
                               static_cast<int>(out.shape(3))};
    std::shared_ptr<faceid::DecodeJob> job;
    {
      py::gil_scoped_release release;  // with 0 threads the work runs here
      job = decoder_->submit(std::move(idx), std::move(flip), target);
    }
    return std::make_unique<PendingBatch>(std::move(job), std::move(out));
  }
  size_t size() const { return decoder_->num_samples(); }
  int num_threads() const { return decoder_->num_threads(); }
  const std::string& path(size_t i) const {
    FACEID_CHECK_ARG(i < decoder_->num_samples(), "index ", i, " out of range [0, ", decoder_->num_samples(), ")");
    return decoder_->path(i);
  }

 private:
  static int check_threads(int n) {
    FACEID_CHECK_ARG(n >= 0 && n <= 256, "num_threads: expected 0..256, got ", n);
    return n;
  }
  static faceid::Normalizer make_norm(Triple mean, Triple std) {
    check_std(std);
    return faceid::Normalizer(mean, std);
  }
  std::unique_ptr<faceid::BatchDecoder> decoder_;
};

// Test hook: `count` items on a pool of `num_threads` workers, item `throw_at` throwing std::runtime_error.
// Returns how many items ran; the item's exception comes back as RuntimeError instead of ending the process.
size_t debug_thread_pool(int num_threads, size_t count, int64_t throw_at) {
  FACEID_CHECK_ARG(num_threads >= 0 && num_threads <= 16, "num_threads: expected 0..16, got ", num_threads);
  std::atomic<size_t> ran{0};
  py::gil_scoped_release release;
  faceid::ThreadPool pool(num_threads);
  std::shared_ptr<faceid::BatchJob> job = pool.submit(count, [&](size_t item) {
    ran.fetch_add(1);
    if (static_cast<int64_t>(item) == throw_at)
      throw std::runtime_error(faceid::concat("item ", item, " failed on purpose"));
  });
  job->wait();
  return ran.load();
}

py::array_t<float> cuda_flip_normalize(const py::array& src, const py::array& flips, Triple mean, Triple std,
                                       bool src_is_bgr) {
  FACEID_CHECK_ARG(src.ndim() == 4 && src.shape(3) == 3, "src: expected shape (N, H, W, 3), got ", shape_of(src));
  check_dtype<uint8_t>(src, "src", "uint8");
  check_c_contiguous(src, "src");
  check_std(std);
  const int n = static_cast<int>(src.shape(0)), h = static_cast<int>(src.shape(1)), w = static_cast<int>(src.shape(2));
  std::vector<uint8_t> flip = as_flips(flips, static_cast<size_t>(n), "flips");
  py::array_t<float> out({n, 3, h, w});
  const auto* in = static_cast<const uint8_t*>(src.data());
  float* dst = out.mutable_data();
  py::gil_scoped_release release;
  faceid::cuda::flip_normalize(in, flip.data(), n, h, w, src_is_bgr, mean, std, dst);
  return out;
}

py::dict build_info() {
  py::dict info;
  info["jpeg_lib_version"] = JPEG_LIB_VERSION;
#ifdef LIBJPEG_TURBO_VERSION_NUMBER
  info["libjpeg_turbo_version"] = LIBJPEG_TURBO_VERSION_NUMBER;
#endif
  info["cuda"] = faceid::cuda::built_with_cuda();
  info["simd_compiled"] = faceid::simd::kCompiled;  // the AVX2 kernels are in this build (x86-64)
  info["avx2_kernels"] = faceid::simd::use_avx2();  // ... and run here
  info["avx512_bf16_kernels"] = faceid::simd::use_avx512_bf16();  // the gallery's bf16 scores (vdpbf16ps)
  info["force_scalar"] = faceid::simd::scalar_forced();
  info["compiler"] = std::string(__VERSION__);
  info["sanitizer"] = std::string(FACEID_SANITIZER_NAME);
  return info;
}

py::tuple cuda_status() {
  std::string why;
  int count = faceid::cuda::device_count(&why);
  return py::make_tuple(count, why);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "faceid native kernels (private: use the faceid Python API)";
  // FACEID_FORCE_SCALAR=1: the scalar paths everywhere (read once, here), to test them on AVX2 machines.
  const char* force_scalar = std::getenv("FACEID_FORCE_SCALAR");
  faceid::simd::set_force_scalar(force_scalar != nullptr && std::string(force_scalar) == "1");
  py::register_exception<faceid::DecodeError>(m, "DecodeError", PyExc_ValueError);

  m.def("decode_jpeg", &decode_jpeg, py::arg("data"), py::arg("max_pixels") = size_t{1} << 26,
        "Decode JPEG bytes to an (H, W, 3) uint8 RGB array (strict: corrupt data raises DecodeError).");
  m.def("parse_kv_record", &parse_kv_record, py::arg("data"),
        "Return the image bytes of the first record of a kv .bin file, without unpickling.");
  m.def("parse_pickled_bytes", &parse_pickled_bytes, py::arg("data"),
        "Return the bytes object a pickle encodes; any other pickle raises DecodeError.");
  m.def("hwc_to_chw", &hwc_to_chw, py::arg("src"), py::arg("flips"), py::arg("out"), py::arg("mean"),
        py::arg("std"), py::arg("src_is_bgr"),
        "(N,H,W,3) uint8 -> (N,3,H,W) float32/float16/uint8 in RGB order, flipped where flips != 0.");

  m.def("warp_faces", &warp_faces, py::arg("image"), py::arg("matrices"), py::arg("size"), py::arg("mean"),
        py::arg("std"), py::arg("src_is_bgr"),
        "(H,W,3) uint8 + (N,2,3) float64 source->output affine maps -> (N,3,size,size) float32 RGB, "
        "bilinear, normalised (x - mean) / std, zero outside the image.");

  py::enum_<faceid::DecodeStatus>(m, "DecodeStatus", "What became of one sample of a submitted batch.")
      .value("OK", faceid::DecodeStatus::kOk)
      .value("NOT_JPEG", faceid::DecodeStatus::kNotJpeg, "not a JPEG: left to the caller's slow path")
      .value("ERROR", faceid::DecodeStatus::kError, "unreadable or corrupt; the message says why");

  py::class_<PendingBatch>(m, "PendingBatch")
      .def("wait", &PendingBatch::wait)
      .def("done", &PendingBatch::done)
      .def_property_readonly("out", &PendingBatch::out);

  py::class_<PyBatchDecoder>(m, "BatchDecoder")
      .def(py::init<std::vector<std::string>, int, Triple, Triple>(), py::arg("paths"), py::arg("num_threads"),
           py::arg("mean"), py::arg("std"))
      .def("submit", &PyBatchDecoder::submit, py::arg("indices"), py::arg("flips"), py::arg("out"))
      .def("path", &PyBatchDecoder::path, py::arg("index"))
      .def("__len__", &PyBatchDecoder::size)
      .def_property_readonly("num_threads", &PyBatchDecoder::num_threads);

  m.def("cuda_flip_normalize", &cuda_flip_normalize, py::arg("src"), py::arg("flips"), py::arg("mean"),
        py::arg("std"), py::arg("src_is_bgr"),
        "GPU version of hwc_to_chw with float32 output (raises when built without CUDA or without a device).");
  m.def("cuda_status", &cuda_status, "(device_count, reason when 0)");
  m.def("build_info", &build_info);
  m.def("_debug_thread_pool", &debug_thread_pool, py::arg("num_threads"), py::arg("count"), py::arg("throw_at"));
  faceid::register_infer_bindings(m);
  faceid::register_detect_bindings(m);
  faceid::register_gallery_bindings(m);
}
