// io/crc32.cc — see crc32.h.

#include "io/crc32.h"

#include <zlib.h>

#include <algorithm>
#include <cassert>

namespace sift_stream::io {
namespace {

// The largest length zlib's crc32() can take is UINT_MAX (its `uInt`); a power of two well
// below that keeps each call's length exact on every platform zlib supports.
constexpr size_t kMaxZlibPieceBytes = size_t{1} << 30;

}  // namespace

namespace crc32_internal {

uint32_t Crc32ExtendInPieces(uint32_t crc, absl::string_view bytes, size_t max_piece_bytes) {
  assert(max_piece_bytes > 0);
  uLong state = crc;
  const Bytef* data = reinterpret_cast<const Bytef*>(bytes.data());
  size_t remaining = bytes.size();
  while (remaining > 0) {
    const size_t piece = std::min({remaining, max_piece_bytes, kMaxZlibPieceBytes});
    state = crc32(state, data, static_cast<uInt>(piece));
    data += piece;
    remaining -= piece;
  }
  return static_cast<uint32_t>(state);
}

}  // namespace crc32_internal

uint32_t Crc32Extend(uint32_t crc, absl::string_view bytes) {
  return crc32_internal::Crc32ExtendInPieces(crc, bytes, kMaxZlibPieceBytes);
}

uint32_t Crc32(absl::string_view bytes) { return Crc32Extend(0, bytes); }

}  // namespace sift_stream::io
