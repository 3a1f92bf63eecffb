// io/pbfs_encoder_test.cc — chunk bytes pinned against hand-written expectations.

#include "io/pbfs_encoder.h"

#include <sys/mman.h>
#include <zlib.h>

#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "io/pbfs_format.h"

namespace sift_stream::io {
namespace {

// The CRC field a chunk must start with, computed by zlib directly (not via io/crc32.h) and
// laid out little-endian by hand.
std::string LittleEndianCrcOf(const std::string& covered) {
  const uLong crc =
      crc32(0, reinterpret_cast<const Bytef*>(covered.data()), static_cast<uInt>(covered.size()));
  return std::string{static_cast<char>(crc & 0xFF), static_cast<char>((crc >> 8) & 0xFF),
                     static_cast<char>((crc >> 16) & 0xFF), static_cast<char>((crc >> 24) & 0xFF)};
}

TEST(PbfsEncoderTest, TwoMessageChunkMatchesHandWrittenBytes) {
  PbfsChunkEncoder encoder;
  ASSERT_TRUE(encoder.Add("ab").ok());
  ASSERT_TRUE(encoder.Add("xyz").ok());
  // N = (4 + 2) + (4 + 3) = 13.
  const std::string tail(
      "\x0D\x00\x00\x00\x00\x00\x00\x00"
      "\x02\x00\x00\x00"
      "ab"
      "\x03\x00\x00\x00"
      "xyz",
      8 + 13);
  EXPECT_EQ(std::string(encoder.Seal()), LittleEndianCrcOf(tail) + tail);
  EXPECT_EQ(encoder.message_count(), 2u);
}

TEST(PbfsEncoderTest, EmptyChunkIsHeaderWithCrcOfZeroLength) {
  PbfsChunkEncoder encoder;
  EXPECT_TRUE(encoder.empty());
  // CRC-32 of eight zero bytes is 0x6522DF69.
  const std::string expected("\x69\xDF\x22\x65\x00\x00\x00\x00\x00\x00\x00\x00", 12);
  EXPECT_EQ(std::string(encoder.Seal()), expected);
}

TEST(PbfsEncoderTest, ZeroLengthMessagesStillGetFrames) {
  PbfsChunkEncoder encoder;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(encoder.Add("").ok());
  const std::string tail = std::string("\x0C", 1) + std::string(7 + 12, '\0');
  EXPECT_EQ(std::string(encoder.Seal()), LittleEndianCrcOf(tail) + tail);
  EXPECT_EQ(encoder.message_count(), 3u);
}

TEST(PbfsEncoderTest, SizeBytesPredictsSealedSize) {
  PbfsChunkEncoder encoder;
  EXPECT_EQ(encoder.size_bytes(), kPbfsChunkHeaderBytes);
  ASSERT_TRUE(encoder.Add(std::string(100, 'm')).ok());
  ASSERT_TRUE(encoder.Add("").ok());
  EXPECT_EQ(encoder.size_bytes(), 12u + 4u + 100u + 4u);
  EXPECT_EQ(encoder.Seal().size(), encoder.size_bytes());
}

TEST(PbfsEncoderTest, SealAgainAfterAddCoversEveryMessage) {
  PbfsChunkEncoder encoder;
  ASSERT_TRUE(encoder.Add("first").ok());
  encoder.Seal();
  ASSERT_TRUE(encoder.Add("second").ok());
  absl::StatusOr<std::string> expected = EncodePbfsChunk({"first", "second"});
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(std::string(encoder.Seal()), *expected);
}

TEST(PbfsEncoderTest, ResetStartsAFreshChunkInTheSameMemory) {
  PbfsChunkEncoder encoder;
  ASSERT_TRUE(encoder.Add(std::string(4096, 'a')).ok());
  const char* first_chunk = encoder.Seal().data();
  encoder.Reset();
  EXPECT_EQ(encoder.message_count(), 0u);
  EXPECT_EQ(encoder.size_bytes(), kPbfsChunkHeaderBytes);
  ASSERT_TRUE(encoder.Add("b").ok());
  const absl::string_view second_chunk = encoder.Seal();
  EXPECT_EQ(second_chunk.data(), first_chunk);
  absl::StatusOr<std::string> expected = EncodePbfsChunk({"b"});
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(std::string(second_chunk), *expected);
}

// A 4 GiB message cannot be framed. The mapping is never touched (Add rejects on length), so
// the test costs address space only.
TEST(PbfsEncoderTest, MessageOver4GiBIsRejectedAndChunkUnchanged) {
  if (sizeof(size_t) < 8) GTEST_SKIP() << "needs a 64-bit address space";
  const size_t size = size_t{1} << 32;
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) GTEST_SKIP() << "cannot reserve 4 GiB of address space";
  PbfsChunkEncoder encoder;
  ASSERT_TRUE(encoder.Add("kept").ok());
  const absl::Status status = encoder.Add(absl::string_view(static_cast<char*>(map), size));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("4294967296 bytes"), absl::string_view::npos) << status.message();
  EXPECT_EQ(encoder.message_count(), 1u);
  EXPECT_EQ(encoder.size_bytes(), 12u + 4u + 4u);
  munmap(map, size);
}

}  // namespace
}  // namespace sift_stream::io
