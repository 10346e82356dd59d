// numpy helpers shared by the binding files: describing an array in error messages, checking layout, and
// handing a C++ vector to Python as an array without copying it.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "common/check.h"

namespace faceid::bindings {

namespace py = pybind11;

// mean / std per RGB channel, as the kernels take them.
using Triple = std::array<float, 3>;

// "(2, 3)", "(5,)": numpy's spelling of a shape.
inline std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

inline std::string dtype_of(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

template <typename T>
void check_dtype(const py::array& a, const char* name, const char* expected) {
  FACEID_CHECK_ARG(a.dtype().is(py::dtype::of<T>()), name, ": expected dtype ", expected, ", got ", dtype_of(a));
}

inline void check_c_contiguous(const py::array& a, const char* name) {
  FACEID_CHECK_ARG(a.flags() & py::array::c_style, name, ": expected a C-contiguous array");
}

inline void check_std(const Triple& std) {
  for (float s : std) FACEID_CHECK_ARG(s != 0.0f, "std: expected non-zero values, got ", s);
}

// Row-major array of `shape` that owns `values` (moved, not copied) and frees them with the array.
template <typename T>
py::array_t<T> owned_array(std::vector<T>&& values, const std::vector<py::ssize_t>& shape) {
  auto* data = new std::vector<T>(std::move(values));
  py::capsule free_data(data, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, data->data(), free_data);
}

}  // namespace faceid::bindings
