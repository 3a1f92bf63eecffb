// io/pbfs_format.h — the PBFS backup-file byte format, as constants and byte-order helpers.
//
// The authority is shared/spec/pbfs.md; this is the part of it the code depends on. A PBFS
// file is chunks back to back, with no file header and no footer. Every integer is
// little-endian. One chunk:
//
//   offset  size  content
//   0       4     CRC-32 (io/crc32.h) of every byte after this field: the length field and
//                 all the frames
//   4       8     N: total byte length of the frames that follow
//   12      N     frames, each a 4-byte length L followed by L bytes of one message
//
// A chunk with N == 0 is legal. The frames of a chunk must tile its N bytes exactly. A file
// ends cleanly only at a chunk boundary. Messages are opaque here (serialized protobufs to the
// layers above); nothing in io/ parses them.
//
// Writing is io/pbfs_encoder.h; reading, with what happens to torn and corrupt data, is
// io/pbfs_reader.h.

#ifndef SIFT_STREAM_IO_PBFS_FORMAT_H_
#define SIFT_STREAM_IO_PBFS_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <limits>

namespace sift_stream::io {

inline constexpr size_t kPbfsCrcBytes = 4;
inline constexpr size_t kPbfsLengthBytes = 8;
inline constexpr size_t kPbfsChunkHeaderBytes = kPbfsCrcBytes + kPbfsLengthBytes;  // 12
inline constexpr size_t kPbfsFrameHeaderBytes = 4;

// The largest message a frame can carry: its length must fit the 4-byte frame header.
inline constexpr uint64_t kPbfsMaxMessageBytes = std::numeric_limits<uint32_t>::max();

// A chunk header claiming more frame bytes than this, where the file ends before them, is
// damage or another format, not a write cut short. The format allows larger chunks, but our
// writer seals one every few MiB; erring here keeps a file (corrupt) rather than deleting it
// (torn tail), so the bound is the safe way round.
inline constexpr uint64_t kPbfsMaxPlausibleChunkBytes = uint64_t{1} << 30;

namespace pbfs_internal {

// Little-endian stores and loads, byte by byte so they are correct on any host and need no
// alignment (frames start at arbitrary offsets). Compilers turn these into single moves.
inline void StoreLittleEndian32(uint32_t value, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(value >> (8 * i));
}

inline void StoreLittleEndian64(uint64_t value, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (8 * i));
}

inline uint32_t LoadLittleEndian32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return value;
}

inline uint64_t LoadLittleEndian64(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return value;
}

}  // namespace pbfs_internal
}  // namespace sift_stream::io

#endif  // SIFT_STREAM_IO_PBFS_FORMAT_H_
