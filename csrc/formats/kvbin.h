// The Arcface-Paddle per-image kv ".bin" record, parsed without unpickling anything.
//
// Layout: uint32 key length (little-endian), key bytes, uint32 value length, value; the value is
// pickle.dumps(<encoded image bytes>). Only the opcode sequences that encode one bytes object
// (every protocol, and Python 2 str pickles) are accepted; anything else raises DecodeError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace faceid {

constexpr uint32_t kMaxKvKeyLength = 5000;  // the reference reader's limit

// A view of the image bytes: either into the caller's buffer or into `storage` when the pickle
// stored them in a form that had to be converted (escaped or latin-1 text).
struct ByteView {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// Returns the bytes object encoded by a pickle payload; throws DecodeError on anything else.
ByteView parse_pickled_bytes(const uint8_t* data, size_t size, std::string* storage);

// Parses the first kv record of a .bin file and returns the image bytes it holds.
ByteView parse_kv_record(const uint8_t* data, size_t size, std::string* storage, std::string* key = nullptr);

}  // namespace faceid
