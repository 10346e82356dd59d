// Argument validation and the exception types the bindings translate into Python exceptions.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace faceid {

// Bad arguments from the caller: becomes Python ValueError.
struct ArgumentError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Malformed input data (a corrupt image or .bin file): becomes faceid._C.DecodeError (a ValueError).
struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

}  // namespace faceid

#define FACEID_CHECK_ARG(cond, ...)                               \
  do {                                                            \
    if (!(cond)) throw ::faceid::ArgumentError(::faceid::concat(__VA_ARGS__)); \
  } while (0)

#define FACEID_CHECK_DATA(cond, ...)                              \
  do {                                                            \
    if (!(cond)) throw ::faceid::DecodeError(::faceid::concat(__VA_ARGS__)); \
  } while (0)
