// io/crc32.h — CRC-32 (IEEE 802.3 / zlib polynomial) over byte strings of any length.
//
// This is the checksum PBFS chunks carry (see io/pbfs_format.h): the same value zlib's
// `crc32()` produces, so files we write can be checked by Sift's own tools and vice versa.
// It is a thin wrapper over zlib that removes zlib's one trap: `crc32()` takes a 32-bit
// `uInt` length, so a buffer of 4 GiB or more would silently be checksummed only in part.
// These functions take an `absl::string_view` of any size and feed zlib in pieces.
//
// Example:
//
//   uint32_t whole = io::Crc32("123456789");                       // 0xCBF43926
//   uint32_t split = io::Crc32Extend(io::Crc32("1234"), "56789");  // same value
//
// Thread-safety: pure functions; safe to call from any thread.

#ifndef SIFT_STREAM_IO_CRC32_H_
#define SIFT_STREAM_IO_CRC32_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace sift_stream::io {

// Returns the CRC-32 of `bytes`. The CRC of the empty string is 0.
uint32_t Crc32(absl::string_view bytes);

// Returns the CRC-32 of the concatenation A + `bytes`, given `crc` == Crc32(A). Lets a caller
// checksum data that arrives in pieces without holding it all: Crc32Extend(0, b) == Crc32(b).
uint32_t Crc32Extend(uint32_t crc, absl::string_view bytes);

namespace crc32_internal {

// Crc32Extend with a smaller cap on the piece handed to zlib in one call, so tests can
// exercise the piecewise loop without allocating 4 GiB. `max_piece_bytes` must be > 0.
uint32_t Crc32ExtendInPieces(uint32_t crc, absl::string_view bytes, size_t max_piece_bytes);

}  // namespace crc32_internal
}  // namespace sift_stream::io

#endif  // SIFT_STREAM_IO_CRC32_H_
