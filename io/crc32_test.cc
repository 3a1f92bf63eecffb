// io/crc32_test.cc — CRC-32 against published vectors and zlib's own 64-bit-length entry point.

#include "io/crc32.h"

#include <sys/mman.h>
#include <zlib.h>

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace sift_stream::io {
namespace {

TEST(Crc32Test, CheckStringMatchesPublishedValue) {
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
}

TEST(Crc32Test, EmptyInputIsZero) {
  EXPECT_EQ(Crc32(""), 0u);
  EXPECT_EQ(Crc32Extend(0x12345678u, ""), 0x12345678u);
}

// PBFS readers rely on this: a zero-filled region never looks like a valid chunk header.
TEST(Crc32Test, EightZeroBytesAreNotZero) { EXPECT_EQ(Crc32(std::string(8, '\0')), 0x6522DF69u); }

TEST(Crc32Test, ExtendAtEverySplitPointMatchesOnePass) {
  const std::string text = "PBFS chunks are checksummed in one pass or in pieces.";
  const uint32_t whole = Crc32(text);
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    const absl::string_view view(text);
    EXPECT_EQ(Crc32Extend(Crc32(view.substr(0, cut)), view.substr(cut)), whole) << cut;
  }
}

TEST(Crc32Test, TinyPieceCapMatchesOnePass) {
  std::string bytes;
  for (int i = 0; i < 1000; ++i) bytes.push_back(static_cast<char>(i * 7));
  for (size_t piece : {1, 3, 64, 999, 1000, 5000}) {
    EXPECT_EQ(crc32_internal::Crc32ExtendInPieces(0, bytes, piece), Crc32(bytes)) << piece;
  }
}

// zlib's crc32() takes a 32-bit length; passing 2^32 + 5 straight through would checksum only
// the last 5 bytes. The mapping is untouched zero pages except the last one, so it costs
// page tables, not 4 GiB of memory.
TEST(Crc32Test, InputLongerThan4GiBIsNotTruncated) {
  if (sizeof(size_t) < 8) GTEST_SKIP() << "needs a 64-bit address space";
  const size_t size = (size_t{1} << 32) + 5;
  void* map = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) GTEST_SKIP() << "cannot reserve 4 GiB of address space";
  char* bytes = static_cast<char*>(map);
  bytes[size - 1] = 'x';
  const absl::string_view view(bytes, size);

  const uLong expected = crc32_z(0, reinterpret_cast<const Bytef*>(bytes), size);
  EXPECT_EQ(Crc32(view), static_cast<uint32_t>(expected));
  EXPECT_NE(Crc32(view), Crc32(view.substr(size - 5)));
  munmap(map, size);
}

}  // namespace
}  // namespace sift_stream::io
