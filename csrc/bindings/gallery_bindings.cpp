// Python face of csrc/gallery: bf16 panels of a gallery and the candidate pass of exact search. Every argument
// is checked here (expected vs got); the computation runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <utility>
#include <vector>

#include "bindings/array_utils.h"
#include "common/check.h"
#include "gallery/bf16_scores.h"

namespace py = pybind11;

namespace faceid {
namespace {

using bindings::check_c_contiguous;
using bindings::check_dtype;
using bindings::shape_of;

// A C-contiguous float32 (rows, dim) matrix of finite values (checked when `finite`).
void check_matrix(const py::array& a, const char* name, bool finite) {
  FACEID_CHECK_ARG(a.ndim() == 2, name, ": expected a 2-D array (N, D), got shape ", shape_of(a));
  check_dtype<float>(a, name, "float32");
  check_c_contiguous(a, name);
  FACEID_CHECK_ARG(a.shape(1) > 0, name, ": expected D >= 1, got shape ", shape_of(a));
  if (!finite) return;
  const auto* data = static_cast<const float*>(a.data());
  for (py::ssize_t i = 0; i < a.size(); ++i)
    FACEID_CHECK_ARG(std::isfinite(data[i]), name, ": expected finite values, got ", data[i], " at [", i / a.shape(1),
                     ", ", i % a.shape(1), "]");
}

// Panels (P, ceil(dim / 2), 16, 2) uint16, C-contiguous; returns P.
size_t check_panels(const py::array& panels, size_t dim, bool writable) {
  const auto pairs = static_cast<py::ssize_t>(gallery::bf16_pairs(dim));
  FACEID_CHECK_ARG(panels.ndim() == 4 && panels.shape(1) == pairs && panels.shape(2) == 16 && panels.shape(3) == 2,
                   "panels: expected shape (P, ", pairs, ", 16, 2) for D = ", dim, ", got ", shape_of(panels));
  check_dtype<uint16_t>(panels, "panels", "uint16");
  check_c_contiguous(panels, "panels");
  FACEID_CHECK_ARG(!writable || panels.writeable(), "panels: expected a writable array");
  return static_cast<size_t>(panels.shape(0));
}

void check_rows_fit(int64_t n_rows, size_t num_panels) {
  FACEID_CHECK_ARG(n_rows >= 0 && static_cast<size_t>(n_rows) <= num_panels * gallery::kPanelRows,
                   "n_rows: expected 0..", num_panels * gallery::kPanelRows, " (16 per panel), got ", n_rows);
}

void check_threads(int num_threads) {
  FACEID_CHECK_ARG(num_threads >= 0 && num_threads <= 256, "num_threads: expected 0..256, got ", num_threads);
}

void bf16_pack_rows(const py::array& rows, const py::array& positions, py::array& panels, int num_threads) {
  check_matrix(rows, "rows", false);  // pack_bf16_rows checks the values
  const auto n = static_cast<size_t>(rows.shape(0)), dim = static_cast<size_t>(rows.shape(1));
  FACEID_CHECK_ARG(positions.ndim() == 1 && positions.shape(0) == rows.shape(0), "positions: expected shape (", n,
                   ",) to match rows ", shape_of(rows), ", got ", shape_of(positions));
  check_dtype<int64_t>(positions, "positions", "int64");
  check_c_contiguous(positions, "positions");
  const size_t num_panels = check_panels(panels, dim, true);
  check_threads(num_threads);
  const auto* src = static_cast<const float*>(rows.data());
  const auto* where = static_cast<const int64_t*>(positions.data());
  auto* dst = static_cast<uint16_t*>(panels.mutable_data());
  py::gil_scoped_release release;
  gallery::pack_bf16_rows(src, n, dim, where, dst, num_panels, num_threads);
}

// Checks the arguments the candidate and score passes share; returns (batch, dim).
std::pair<size_t, size_t> check_search(const py::array& panels, int64_t n_rows, const py::array& queries) {
  check_matrix(queries, "queries", true);
  const size_t dim = static_cast<size_t>(queries.shape(1));
  check_rows_fit(n_rows, check_panels(panels, dim, false));
  return {static_cast<size_t>(queries.shape(0)), dim};
}

py::tuple bf16_candidates(const py::array& panels, int64_t n_rows, const py::array& queries, int64_t k,
                          const py::array& margins, int num_threads) {
  const auto [batch, dim] = check_search(panels, n_rows, queries);
  FACEID_CHECK_ARG(k >= 1, "k: expected k >= 1, got ", k);
  FACEID_CHECK_ARG(margins.ndim() == 1 && static_cast<size_t>(margins.shape(0)) == batch,
                   "margins: expected shape (", batch, ",) (one per query), got ", shape_of(margins));
  check_dtype<float>(margins, "margins", "float32");
  check_c_contiguous(margins, "margins");
  const auto* margin = static_cast<const float*>(margins.data());
  for (size_t q = 0; q < batch; ++q)
    FACEID_CHECK_ARG(std::isfinite(margin[q]) && margin[q] >= 0, "margins[", q,
                     "]: expected a finite value >= 0, got ", margin[q]);
  check_threads(num_threads);
  gallery::Candidates found;
  {
    py::gil_scoped_release release;
    found = gallery::bf16_candidates(static_cast<const uint16_t*>(panels.data()), static_cast<size_t>(n_rows), dim,
                                     static_cast<const float*>(queries.data()), batch, static_cast<size_t>(k),
                                     margin, num_threads);
  }
  const auto count = static_cast<py::ssize_t>(found.rows.size());
  return py::make_tuple(bindings::owned_array(std::move(found.offsets), {static_cast<py::ssize_t>(batch) + 1}),
                        bindings::owned_array(std::move(found.rows), {count}),
                        bindings::owned_array(std::move(found.scores), {count}));
}

py::array_t<float> bf16_scores(const py::array& panels, int64_t n_rows, const py::array& queries) {
  const auto [batch, dim] = check_search(panels, n_rows, queries);
  std::vector<float> scores;
  {
    py::gil_scoped_release release;
    scores = gallery::bf16_scores(static_cast<const uint16_t*>(panels.data()), static_cast<size_t>(n_rows), dim,
                                  static_cast<const float*>(queries.data()), batch);
  }
  return bindings::owned_array(std::move(scores), {static_cast<py::ssize_t>(batch), static_cast<py::ssize_t>(n_rows)});
}

}  // namespace

void register_gallery_bindings(py::module_& m) {
  m.def("bf16_pack_rows", &bf16_pack_rows, py::arg("rows"), py::arg("positions"), py::arg("panels"),
        py::arg("num_threads"),
        "Write float32 rows (n, D) as bf16 (round to nearest even) into rows `positions` (distinct) of panels "
        "(P, ceil(D/2), 16, 2) uint16.");
  m.def("bf16_candidates", &bf16_candidates, py::arg("panels"), py::arg("n_rows"), py::arg("queries"), py::arg("k"),
        py::arg("margins"), py::arg("num_threads"),
        "Per query, the rows whose bf16 score >= its k-th best bf16 score - margin: (offsets (B+1,), rows, "
        "scores).");
  m.def("bf16_scores", &bf16_scores, py::arg("panels"), py::arg("n_rows"), py::arg("queries"),
        "bf16 scores (B, n_rows) of the panels' first n_rows rows against float32 queries (B, D).");
}

}  // namespace faceid
