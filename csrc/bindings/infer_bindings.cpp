// Python face of csrc/infer: the native Paddle Inference predictor. Argument checks, GIL handling and
// the numpy conversions live here; every Paddle call runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings/array_utils.h"
#include "common/check.h"
#include "infer/native_predictor.h"
#include "infer/paddle_api.h"

namespace py = pybind11;

namespace faceid {
namespace {

using bindings::shape_of;
using bindings::Triple;

void check_input(const py::array& a, const char* name, const char* layout, bool channels_last) {
  FACEID_CHECK_ARG(a.ndim() == 4, name, ": expected shape ", layout, ", got ", shape_of(a));
  FACEID_CHECK_ARG(a.shape(channels_last ? 3 : 1) == 3, name, ": expected 3 channels in shape ", layout, ", got ",
                   shape_of(a));
  bindings::check_c_contiguous(a, name);
  for (py::ssize_t i = 0; i < 4; ++i)
    FACEID_CHECK_ARG(a.shape(i) <= std::numeric_limits<int>::max(), name, ": dimension ", i, " is too large");
}

// (rows, width) float32 array that owns `values` without copying them.
py::array_t<float> as_array(std::vector<float>&& values, size_t rows, int64_t known_width) {
  const size_t width = rows ? values.size() / rows : static_cast<size_t>(known_width);
  return bindings::owned_array(std::move(values), {static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(width)});
}

std::unique_ptr<NativePredictor> make_predictor(const std::string& libpaddle_path, const std::string& model_file,
                                                const std::string& params_file, int threads, bool onednn,
                                                bool bf16, int max_predictors) {
  py::gil_scoped_release release;  // loading a model takes a while
  return std::make_unique<NativePredictor>(libpaddle_path, model_file, params_file, threads, onednn, bf16,
                                           max_predictors);
}

py::array_t<float> embed(NativePredictor& self, const py::array& images, bool src_is_bgr, Triple mean, Triple std,
                         int batch_size) {
  check_input(images, "images", "(N, H, W, 3)", true);
  bindings::check_dtype<uint8_t>(images, "images", "uint8");
  const auto n = static_cast<size_t>(images.shape(0));
  const int height = static_cast<int>(images.shape(1)), width = static_cast<int>(images.shape(2));
  const auto* data = static_cast<const uint8_t*>(images.data());
  EmbedOptions options{src_is_bgr, mean, std, batch_size};
  std::vector<float> out;
  {
    py::gil_scoped_release release;
    out = self.embed(data, n, height, width, options);
  }
  return as_array(std::move(out), n, self.output_dim());
}

py::array_t<float> run_raw(NativePredictor& self, const py::array& input) {
  check_input(input, "input", "(N, 3, H, W)", false);
  bindings::check_dtype<float>(input, "input", "float32");
  std::vector<int> shape;
  for (py::ssize_t i = 0; i < 4; ++i) shape.push_back(static_cast<int>(input.shape(i)));
  const auto* data = static_cast<const float*>(input.data());
  std::vector<float> out;
  {
    py::gil_scoped_release release;
    out = self.run_raw(data, shape);
  }
  return as_array(std::move(out), static_cast<size_t>(shape[0]), self.output_dim());
}

std::string probe(const std::string& libpaddle_path) {
  py::gil_scoped_release release;
  return paddle::Api::probe(libpaddle_path);
}

}  // namespace

void register_infer_bindings(py::module_& m) {
  m.def("native_infer_probe", &probe, py::arg("libpaddle_path"),
        "'' when the Paddle Inference C++ API of the loaded libpaddle.so at this path is usable, else why not.");
  m.def(
      "native_infer_target", [] { return py::make_tuple(paddle::kPaddleVersion, paddle::kPaddleCommit); },
      "(version, commit) of the Paddle build the native predictor was written against.");

  py::class_<NativePredictor>(m, "NativePredictor")
      .def(py::init(&make_predictor), py::arg("libpaddle_path"), py::arg("model_file"), py::arg("params_file"),
           py::arg("threads"), py::arg("onednn"), py::arg("bf16"), py::arg("max_predictors"))
      .def("embed", &embed, py::arg("images"), py::arg("src_is_bgr"), py::arg("mean"), py::arg("std"),
           py::arg("batch_size"),
           "(N, H, W, 3) uint8 -> (N, D) float32 embeddings; normalised like hwc_to_chw, batch_size per run.")
      .def("run_raw", &run_raw, py::arg("input"), "(N, 3, H, W) float32 -> (N, D) float32 in one run.")
      .def_property_readonly("output_dim", &NativePredictor::output_dim)
      .def_property_readonly("pool_size", &NativePredictor::pool_size,
                             "Predictors in the pool (one copy of the weights each), at most max_predictors.")
      .def_property_readonly("max_predictors", &NativePredictor::max_predictors)
      .def("_hold", &NativePredictor::hold, py::arg("count"), py::call_guard<py::gil_scoped_release>(),
           "Test hook: take `count` predictors from the pool and keep them until _release_held().")
      .def("_release_held", &NativePredictor::release_held, py::call_guard<py::gil_scoped_release>());
}

}  // namespace faceid
