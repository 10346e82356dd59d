#include <stdexcept>

#include "cuda/cuda_ops.h"

namespace faceid::cuda {

bool built_with_cuda() { return false; }

int device_count(std::string* why) {
  if (why != nullptr) *why = "faceid was built without CUDA (nvcc not found at build time, or FACEID_CUDA=OFF)";
  return 0;
}

void flip_normalize(const uint8_t*, const uint8_t*, int, int, int, bool, std::array<float, 3>, std::array<float, 3>,
                    float*) {
  throw std::runtime_error(
      "faceid was built without CUDA: install the CUDA toolkit (nvcc) and rebuild with FACEID_CUDA=ON");
}

}  // namespace faceid::cuda
