// Python face of csrc/detect and of BlazeFace's tile preparation (csrc/image/tiles): decoding, weighted NMS,
// the tile batch. Argument checks and numpy conversions live here; the computation runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "bindings/array_utils.h"
#include "common/check.h"
#include "common/thread_pool.h"
#include "detect/blazeface.h"
#include "image/tiles.h"

namespace py = pybind11;

namespace faceid {
namespace {

using bindings::shape_of;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// A float32 array as C-contiguous (copied only when it is not); any other dtype is an error.
FloatArray as_float32(const py::array& a, const char* name) {
  bindings::check_dtype<float>(a, name, "float32");
  return FloatArray::ensure(a);
}

void check_finite(const FloatArray& a, const char* name) {
  const float* data = a.data();
  for (py::ssize_t i = 0; i < a.size(); ++i)
    FACEID_CHECK_ARG(std::isfinite(data[i]), name, ": expected finite values, got ", data[i], " at flat index ", i);
}

void check_unit(double value, const char* name) {
  FACEID_CHECK_ARG(value >= 0.0 && value <= 1.0, name, ": expected a value in [0, 1], got ", value);
}

// Checks raw (A, 4 + 2K) and anchors (A, 2); returns K.
size_t check_regressors(const py::array& raw, const py::array& anchors, int input_size) {
  FACEID_CHECK_ARG(raw.ndim() == 2 && raw.shape(1) >= 4 && raw.shape(1) % 2 == 0,
                   "raw: expected shape (A, 4 + 2K), got ", shape_of(raw));
  FACEID_CHECK_ARG(anchors.ndim() == 2 && anchors.shape(1) == 2 && anchors.shape(0) == raw.shape(0),
                   "anchors: expected shape (", raw.shape(0), ", 2) to match raw (A, 4 + 2K) ", shape_of(raw),
                   ", got ", shape_of(anchors));
  FACEID_CHECK_ARG(input_size > 0, "input_size: expected a positive size, got ", input_size);
  return static_cast<size_t>(raw.shape(1) - 4) / 2;
}

py::tuple as_tuple(detect::Detections&& found, size_t num_keypoints) {
  const auto n = static_cast<py::ssize_t>(found.size()), k = static_cast<py::ssize_t>(num_keypoints);
  return py::make_tuple(bindings::owned_array(std::move(found.boxes), {n, 4}), bindings::owned_array(std::move(found.scores), {n}),
                        bindings::owned_array(std::move(found.keypoints), {n, k, 2}));
}

py::tuple decode_blazeface(const py::array& raw_in, const py::array& anchors_in, int input_size) {
  const size_t k = check_regressors(raw_in, anchors_in, input_size);
  FloatArray raw = as_float32(raw_in, "raw"), anchors = as_float32(anchors_in, "anchors");
  const auto n = static_cast<py::ssize_t>(raw.shape(0));
  py::array_t<float> boxes({n, py::ssize_t{4}}), keypoints({n, static_cast<py::ssize_t>(k), py::ssize_t{2}});
  const float *raw_data = raw.data(), *anchor_data = anchors.data();
  float *box_data = boxes.mutable_data(), *kp_data = keypoints.mutable_data();
  {
    py::gil_scoped_release release;
    detect::decode_blazeface(raw_data, anchor_data, static_cast<size_t>(n), k, input_size, box_data, kp_data);
  }
  return py::make_tuple(boxes, keypoints);
}

py::tuple blazeface_candidates(const py::array& raw_in, const py::array& logits_in, const py::array& anchors_in,
                               int input_size, double score_threshold, double score_clip) {
  const size_t k = check_regressors(raw_in, anchors_in, input_size);
  const py::ssize_t count = raw_in.shape(0);
  FACEID_CHECK_ARG((logits_in.ndim() == 1 && logits_in.shape(0) == count) ||
                       (logits_in.ndim() == 2 && logits_in.shape(0) == count && logits_in.shape(1) == 1),
                   "logits: expected shape (", count, ", 1) or (", count, ",) to match raw ", shape_of(raw_in),
                   ", got ", shape_of(logits_in));
  check_unit(score_threshold, "score_threshold");
  FACEID_CHECK_ARG(score_clip > 0, "score_clip: expected a positive value, got ", score_clip);
  FloatArray raw = as_float32(raw_in, "raw"), logits = as_float32(logits_in, "logits");
  FloatArray anchors = as_float32(anchors_in, "anchors");
  const float *raw_data = raw.data(), *logit_data = logits.data(), *anchor_data = anchors.data();
  detect::Detections found;
  {
    py::gil_scoped_release release;
    found = detect::blazeface_candidates(raw_data, logit_data, anchor_data, static_cast<size_t>(count), k,
                                         input_size, score_threshold, score_clip);
  }
  return as_tuple(std::move(found), k);
}

py::tuple weighted_nms(const py::array& boxes_in, const py::array& scores_in, const py::array& keypoints_in,
                       double iou_threshold) {
  FACEID_CHECK_ARG(boxes_in.ndim() == 2 && boxes_in.shape(1) == 4, "boxes: expected shape (N, 4), got ",
                   shape_of(boxes_in));
  const py::ssize_t n = boxes_in.shape(0);
  FACEID_CHECK_ARG(scores_in.ndim() == 1 && scores_in.shape(0) == n, "scores: expected shape (", n,
                   ",) to match boxes ", shape_of(boxes_in), ", got ", shape_of(scores_in));
  FACEID_CHECK_ARG(keypoints_in.ndim() == 3 && keypoints_in.shape(0) == n && keypoints_in.shape(2) == 2,
                   "keypoints: expected shape (", n, ", K, 2) to match boxes ", shape_of(boxes_in), ", got ",
                   shape_of(keypoints_in));
  check_unit(iou_threshold, "iou_threshold");
  FloatArray boxes = as_float32(boxes_in, "boxes"), scores = as_float32(scores_in, "scores");
  FloatArray keypoints = as_float32(keypoints_in, "keypoints");
  check_finite(scores, "scores");
  const auto k = static_cast<size_t>(keypoints_in.shape(1));
  const float *box_data = boxes.data(), *score_data = scores.data(), *kp_data = keypoints.data();
  detect::Detections found;
  {
    py::gil_scoped_release release;
    found = detect::weighted_nms(box_data, score_data, kp_data, static_cast<size_t>(n), k, iou_threshold);
  }
  return as_tuple(std::move(found), k);
}

// An (N, columns) integer array as rows of int64.
std::vector<int64_t> as_int_rows(const py::array& a, py::ssize_t columns, const char* name, const char* layout) {
  FACEID_CHECK_ARG(a.ndim() == 2 && a.shape(1) == columns, name, ": expected shape ", layout, ", got ", shape_of(a));
  FACEID_CHECK_ARG(a.dtype().kind() == 'i' || a.dtype().kind() == 'u', name, ": expected an integer array, got ",
                   bindings::dtype_of(a));
  auto cast = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  return std::vector<int64_t>(cast.data(), cast.data() + cast.size());
}

std::vector<TileResize> as_resizes(const py::array& a) {
  std::vector<int64_t> v = as_int_rows(a, 2, "resizes", "(R, 2) (height, width)");
  std::vector<TileResize> out;
  for (size_t i = 0; i < v.size(); i += 2) {
    FACEID_CHECK_ARG(v[i] >= 1 && v[i] <= 65536 && v[i + 1] >= 1 && v[i + 1] <= 65536, "resizes[", i / 2,
                     "]: expected a height and width in 1..65536, got (", v[i], ", ", v[i + 1], ")");
    out.push_back({static_cast<int>(v[i]), static_cast<int>(v[i + 1])});
  }
  return out;
}

// Checks one tile row (resize, x0, y0, width, height, pad_x, pad_y): its crop inside its resize, its placement
// inside the size x size canvas.
TileCrop as_tile(const int64_t* t, size_t i, const std::vector<TileResize>& resizes, int size) {
  FACEID_CHECK_ARG(t[0] >= 0 && t[0] < static_cast<int64_t>(resizes.size()), "tiles[", i,
                   "]: expected a resize index in [0, ", resizes.size(), "), got ", t[0]);
  const TileResize& r = resizes[static_cast<size_t>(t[0])];
  FACEID_CHECK_ARG(t[3] >= 1 && t[3] <= size && t[4] >= 1 && t[4] <= size, "tiles[", i,
                   "]: expected a crop width and height in 1..", size, ", got ", t[3], "x", t[4]);
  FACEID_CHECK_ARG(t[1] >= 0 && t[2] >= 0 && t[1] + t[3] <= r.width && t[2] + t[4] <= r.height, "tiles[", i,
                   "]: expected a crop inside resize ", t[0], " (", r.width, "x", r.height, "), got ", t[3], "x", t[4],
                   " at (", t[1], ", ", t[2], ")");
  FACEID_CHECK_ARG(t[5] >= 0 && t[6] >= 0 && t[5] + t[3] <= size && t[6] + t[4] <= size, "tiles[", i,
                   "]: expected a placement inside the ", size, "x", size, " canvas, got ", t[3], "x", t[4],
                   " at (", t[5], ", ", t[6], ")");
  return {static_cast<int>(t[0]), static_cast<int>(t[1]), static_cast<int>(t[2]), static_cast<int>(t[3]),
          static_cast<int>(t[4]), static_cast<int>(t[5]), static_cast<int>(t[6])};
}

py::array_t<float> tile_batch(const py::array& image, const py::array& resizes_in, const py::array& tiles_in, int size,
                              int num_threads) {
  FACEID_CHECK_ARG(image.ndim() == 3 && image.shape(2) == 3, "image: expected shape (H, W, 3), got ",
                   shape_of(image));
  bindings::check_dtype<uint8_t>(image, "image", "uint8");
  bindings::check_c_contiguous(image, "image");
  FACEID_CHECK_ARG(image.shape(0) > 0 && image.shape(1) > 0, "image: expected a non-empty image, got ",
                   shape_of(image));
  FACEID_CHECK_ARG(size >= 1 && size <= 4096, "size: expected 1..4096, got ", size);
  FACEID_CHECK_ARG(num_threads >= 1 && num_threads <= 256, "num_threads: expected 1..256, got ", num_threads);
  const std::vector<TileResize> resizes = as_resizes(resizes_in);
  const std::vector<int64_t> rows =
      as_int_rows(tiles_in, 7, "tiles", "(N, 7) (resize, x0, y0, width, height, pad_x, pad_y)");
  std::vector<TileCrop> tiles;
  for (size_t i = 0; i < rows.size() / 7; ++i) tiles.push_back(as_tile(rows.data() + 7 * i, i, resizes, size));
  const auto n = static_cast<py::ssize_t>(tiles.size());
  py::array_t<float> out({n, py::ssize_t{3}, py::ssize_t{size}, py::ssize_t{size}});
  const auto* pixels = static_cast<const uint8_t*>(image.data());
  const int height = static_cast<int>(image.shape(0)), width = static_cast<int>(image.shape(1));
  float* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    ThreadPool* pool = num_threads > 1 ? &shared_thread_pool(num_threads) : nullptr;
    faceid::prepare_tiles(pixels, height, width, resizes, tiles, size, pool, dst);
  }
  return out;
}

}  // namespace

void register_detect_bindings(py::module_& m) {
  m.def("decode_blazeface", &decode_blazeface, py::arg("raw"), py::arg("anchors"), py::arg("input_size"),
        "raw (A, 4 + 2K) float32, anchors (A, 2) float32 centres in [0, 1] -> (boxes (A, 4) xyxy, keypoints "
        "(A, K, 2)) float32 in input pixels.");
  m.def("blazeface_candidates", &blazeface_candidates, py::arg("raw"), py::arg("logits"), py::arg("anchors"),
        py::arg("input_size"), py::arg("score_threshold"), py::arg("score_clip"),
        "decode_blazeface of the rows with sigmoid(clip(logit)) >= score_threshold -> (boxes (K, 4), scores (K,), "
        "keypoints (K, 6, 2)) float32, in input order.");
  m.def("weighted_nms", &weighted_nms, py::arg("boxes"), py::arg("scores"), py::arg("keypoints"),
        py::arg("iou_threshold"),
        "MediaPipe's weighted NMS on float32 boxes (N, 4), scores (N,), keypoints (N, K, 2) -> the same triple, best "
        "first.");
  m.def("prepare_tiles", &tile_batch, py::arg("image"), py::arg("resizes"), py::arg("tiles"), py::arg("size"),
        py::arg("num_threads"),
        "BGR uint8 (H, W, 3) image, resizes (R, 2) (height, width), tiles (N, 7) (resize, x0, y0, width, height, "
        "pad_x, pad_y) -> (N, 3, size, size) float32 RGB in [-1, 1], padding -1 (area shrink / bilinear enlarge).");
}

}  // namespace faceid
