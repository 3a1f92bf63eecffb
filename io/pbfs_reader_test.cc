// io/pbfs_reader_test.cc — each test pins one way a backup file can end, or be damaged.

#include "io/pbfs_reader.h"

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "io/crc32.h"
#include "io/pbfs_encoder.h"
#include "io/pbfs_format.h"

namespace sift_stream::io {
namespace {

using Messages = std::vector<std::string>;

// A file built from chunks, remembering where each chunk starts.
struct TestFile {
  std::string bytes;
  std::vector<uint64_t> starts;
  std::vector<Messages> chunks;
  uint64_t ChunkSize(size_t i) const {
    return (i + 1 < starts.size() ? starts[i + 1] : bytes.size()) - starts[i];
  }
};

TestFile BuildFile(const std::vector<Messages>& chunks) {
  TestFile file;
  for (const Messages& messages : chunks) {
    absl::StatusOr<std::string> chunk = EncodePbfsChunk(messages);
    EXPECT_TRUE(chunk.ok()) << chunk.status();
    file.starts.push_back(file.bytes.size());
    file.bytes += chunk.value_or("");
    file.chunks.push_back(messages);
  }
  return file;
}

// The messages of the chunks in [0, end) except chunk `skip`.
Messages MessagesOf(const TestFile& file, size_t end, size_t skip = SIZE_MAX) {
  Messages all;
  for (size_t i = 0; i < end; ++i) {
    if (i != skip) all.insert(all.end(), file.chunks[i].begin(), file.chunks[i].end());
  }
  return all;
}

// A small file whose last message ends in a non-zero byte; includes an empty chunk and an
// empty message.
TestFile SmallFile() {
  return BuildFile({{"alpha", "bravo!"}, {}, {"", "charlie", "delta"}, {"echo-echo"}});
}

void ExpectEveryByteAccounted(const PbfsReadReport& report) {
  EXPECT_EQ(report.bytes_read + report.bytes_skipped + report.tail_bytes, report.file_size_bytes)
      << "read " << report.bytes_read << " skipped " << report.bytes_skipped << " tail "
      << report.tail_bytes;
}

PbfsContents MustRead(absl::string_view bytes, PbfsReadMode mode) {
  absl::StatusOr<PbfsContents> contents = ReadPbfsBytes(bytes, mode);
  EXPECT_TRUE(contents.ok()) << contents.status();
  if (!contents.ok()) return {};
  ExpectEveryByteAccounted(contents->report);
  return *std::move(contents);
}

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string WriteFile(absl::string_view name, absl::string_view bytes) {
  const std::string path = TempPath(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(out.good()) << path;
  return path;
}

PbfsContents MustReadFile(const std::string& path, PbfsReadMode mode) {
  absl::StatusOr<PbfsContents> contents = ReadPbfsFile(path, mode);
  EXPECT_TRUE(contents.ok()) << contents.status();
  if (!contents.ok()) return {};
  ExpectEveryByteAccounted(contents->report);
  return *std::move(contents);
}

std::string LittleEndian64(uint64_t value) {
  std::string bytes(8, '\0');
  pbfs_internal::StoreLittleEndian64(value, &bytes[0]);
  return bytes;
}

constexpr PbfsReadMode kBothModes[] = {PbfsReadMode::kStrict, PbfsReadMode::kSalvage};

// 100k messages of 0 to ~300 KiB, one of 1.5 MiB (a chunk larger than the read window),
// sealed into chunks at 64 KiB the way the backup writer does.
const TestFile& ManyMessages() {
  static const TestFile* const file = [] {
    auto* built = new TestFile;
    PbfsChunkEncoder encoder;
    Messages pending;
    auto seal = [&] {
      built->starts.push_back(built->bytes.size());
      built->bytes += std::string(encoder.Seal());
      built->chunks.push_back(std::move(pending));
      pending.clear();
      encoder.Reset();
    };
    for (uint32_t i = 0; i < 100000; ++i) {
      size_t size = (i * 7919u) % 700;
      if (i % 97 == 0) size = 0;
      if (i % 20011 == 1) size = 300 * 1024;
      if (i == 50000) size = 1536 * 1024;
      std::string message(size, static_cast<char>('a' + i % 26));
      if (size > 0) message[size / 2] = static_cast<char>(i);
      EXPECT_TRUE(encoder.Add(message).ok());
      pending.push_back(std::move(message));
      if (encoder.size_bytes() >= 64 * 1024) seal();
    }
    if (!encoder.empty()) seal();
    return built;
  }();
  return *file;
}

TEST(PbfsReaderTest, ManyMessagesOfVariedSizesRoundTripInMemory) {
  const TestFile& file = ManyMessages();
  for (PbfsReadMode mode : kBothModes) {
    const PbfsContents got = MustRead(file.bytes, mode);
    EXPECT_EQ(got.report.end, PbfsEnd::kClean) << got.report.problem;
    EXPECT_TRUE(got.messages == MessagesOf(file, file.chunks.size()));
    EXPECT_EQ(got.report.messages_read, 100000u);
    EXPECT_EQ(got.report.chunks_read, file.chunks.size());
    EXPECT_EQ(got.report.good_end_offset, file.bytes.size());
    EXPECT_TRUE(got.report.problem.empty());
  }
}

TEST(PbfsReaderTest, EncoderOutputWrittenToDiskReadsBack) {
  const TestFile& file = ManyMessages();
  const std::string path = WriteFile("many.pbfs", file.bytes);
  const PbfsContents got = MustReadFile(path, PbfsReadMode::kStrict);
  EXPECT_EQ(got.report.end, PbfsEnd::kClean) << got.report.problem;
  EXPECT_TRUE(got.messages == MessagesOf(file, file.chunks.size()));
  EXPECT_EQ(got.report.file_size_bytes, file.bytes.size());
}

TEST(PbfsReaderTest, HandWrittenTwoMessageChunkIsRead) {
  // Frames "hi" and "" : N = (4 + 2) + (4 + 0) = 10.
  const std::string tail("\x0A\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00hi\x00\x00\x00\x00",
                         8 + 10);
  const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(tail.data()), tail.size());
  const std::string chunk =
      std::string{static_cast<char>(crc), static_cast<char>(crc >> 8), static_cast<char>(crc >> 16),
                  static_cast<char>(crc >> 24)} +
      tail;
  const PbfsContents got = MustRead(chunk, PbfsReadMode::kStrict);
  EXPECT_EQ(got.report.end, PbfsEnd::kClean) << got.report.problem;
  EXPECT_EQ(got.messages, (Messages{"hi", ""}));
}

TEST(PbfsReaderTest, EmptyFileIsCleanWithNoMessages) {
  const PbfsContents in_memory = MustRead("", PbfsReadMode::kStrict);
  const PbfsContents on_disk = MustReadFile(WriteFile("empty.pbfs", ""), PbfsReadMode::kStrict);
  for (const PbfsContents* got : {&in_memory, &on_disk}) {
    EXPECT_EQ(got->report.end, PbfsEnd::kClean);
    EXPECT_TRUE(got->messages.empty());
    EXPECT_EQ(got->report.chunks_read, 0u);
  }
}

// Cutting the file anywhere must keep exactly the chunks that were complete before the cut.
TEST(PbfsReaderTest, TruncationAtEveryOffsetKeepsExactlyTheCompleteChunks) {
  const TestFile file = SmallFile();
  for (size_t cut = 0; cut <= file.bytes.size(); ++cut) {
    size_t complete = 0;
    while (complete < file.chunks.size() &&
           file.starts[complete] + file.ChunkSize(complete) <= cut) {
      ++complete;
    }
    const uint64_t good_end =
        complete == 0 ? 0 : file.starts[complete - 1] + file.ChunkSize(complete - 1);
    const std::string cut_bytes = file.bytes.substr(0, cut);
    const std::string path = WriteFile("cut.pbfs", cut_bytes);
    for (PbfsReadMode mode : kBothModes) {
      for (const PbfsContents& got : {MustRead(cut_bytes, mode), MustReadFile(path, mode)}) {
        SCOPED_TRACE(absl::StrCat("cut at ", cut, ": ", got.report.problem));
        EXPECT_EQ(got.messages, MessagesOf(file, complete));
        EXPECT_EQ(got.report.end, cut == good_end ? PbfsEnd::kClean : PbfsEnd::kTornTail);
        EXPECT_EQ(got.report.good_end_offset, good_end);
        EXPECT_EQ(got.report.tail_bytes, cut - good_end);
        if (cut != good_end) {
          EXPECT_EQ(got.report.problem_offset, good_end);
        }
      }
    }
  }
}

// A flipped bit where `pick` says, in each non-empty chunk in turn.
template <typename Pick>
void ExpectFlippedBitInEachChunkIsCorruption(Pick pick) {
  const TestFile file = SmallFile();
  for (size_t bad = 0; bad < file.chunks.size(); ++bad) {
    if (file.chunks[bad].empty()) continue;
    std::string bytes = file.bytes;
    bytes[pick(file, bad)] ^= 0x10;
    SCOPED_TRACE(absl::StrCat("flipped chunk ", bad));

    const PbfsContents strict = MustRead(bytes, PbfsReadMode::kStrict);
    EXPECT_EQ(strict.report.end, PbfsEnd::kCorrupt) << strict.report.problem;
    EXPECT_EQ(strict.messages, MessagesOf(file, bad));
    EXPECT_EQ(strict.report.problem_offset, file.starts[bad]);
    EXPECT_EQ(strict.report.good_end_offset, file.starts[bad]);
    EXPECT_EQ(strict.report.tail_bytes, bytes.size() - file.starts[bad]);

    const PbfsContents salvaged = MustRead(bytes, PbfsReadMode::kSalvage);
    EXPECT_EQ(salvaged.report.end, PbfsEnd::kCorrupt) << salvaged.report.problem;
    EXPECT_EQ(salvaged.messages, MessagesOf(file, file.chunks.size(), bad));
    EXPECT_EQ(salvaged.report.regions_skipped, 1u);
    EXPECT_EQ(salvaged.report.bytes_skipped, file.ChunkSize(bad));
    EXPECT_EQ(salvaged.report.problem_offset, file.starts[bad]);
  }
}

TEST(PbfsReaderTest, FlippedBitInAChunkBodyIsCorruptionAtThatChunk) {
  ExpectFlippedBitInEachChunkIsCorruption(
      [](const TestFile& file, size_t i) { return file.starts[i] + file.ChunkSize(i) - 1; });
}

TEST(PbfsReaderTest, FlippedBitInAStoredCrcIsCorruptionAtThatChunk) {
  ExpectFlippedBitInEachChunkIsCorruption(
      [](const TestFile& file, size_t i) { return file.starts[i]; });
}

// A message may legitimately end in zero bytes (a double 0.0); a bit flip in such a last
// chunk is corruption, not the zeroed sectors of a torn write.
TEST(PbfsReaderTest, FlippedBitInALastChunkEndingInZeroBytesIsCorrupt) {
  std::string bytes =
      BuildFile({{"one"}, {"two", std::string("\x09", 1) + std::string(8, '\0')}}).bytes;
  bytes[bytes.size() - 12] ^= 0x01;
  const PbfsContents got = MustRead(bytes, PbfsReadMode::kStrict);
  EXPECT_EQ(got.report.end, PbfsEnd::kCorrupt) << got.report.problem;
  EXPECT_EQ(got.messages, Messages{"one"});
}

TEST(PbfsReaderTest, ZeroFilledTailAfterGoodChunksIsTornTail) {
  const TestFile file = SmallFile();
  for (size_t zeros : {1, 11, 12, 13, 4096, 10000}) {
    const std::string bytes = file.bytes + std::string(zeros, '\0');
    for (PbfsReadMode mode : kBothModes) {
      const PbfsContents got = MustRead(bytes, mode);
      SCOPED_TRACE(absl::StrCat(zeros, " zeros: ", got.report.problem));
      EXPECT_EQ(got.report.end, PbfsEnd::kTornTail);
      EXPECT_EQ(got.messages, MessagesOf(file, file.chunks.size()));
      EXPECT_EQ(got.report.good_end_offset, file.bytes.size());
      EXPECT_EQ(got.report.problem_offset, file.bytes.size());
      EXPECT_EQ(got.report.tail_bytes, zeros);
    }
  }
}

// An O_DIRECT write of the last chunk that reached the disk only in part: its later sectors,
// and the in-flight padding up to the 4 KiB block, read back as zeros.
TEST(PbfsReaderTest, LastChunkZeroedFromASectorToEndOfFileIsTornTail) {
  const TestFile file = BuildFile({{"first", "chunk"}, {std::string(3000, 'x'), "tail"}});
  const uint64_t last = file.starts[1];
  const uint64_t zeros_from = (last + 700) / 512 * 512;
  const uint64_t padded = (file.bytes.size() + 4095) / 4096 * 4096;
  const std::string bytes =
      file.bytes.substr(0, zeros_from) + std::string(padded - zeros_from, '\0');
  for (PbfsReadMode mode : kBothModes) {
    const PbfsContents got = MustRead(bytes, mode);
    EXPECT_EQ(got.report.end, PbfsEnd::kTornTail) << got.report.problem;
    EXPECT_EQ(got.messages, (Messages{"first", "chunk"}));
    EXPECT_EQ(got.report.good_end_offset, last);
    EXPECT_EQ(got.report.tail_bytes, padded - last);
  }
}

// A header claiming 2^60 bytes must be reported, never allocated (run under --config=asan),
// and is corruption even at the end of the file: no write cut short leaves such a length, and a
// torn tail would let recovery delete the file.
TEST(PbfsReaderTest, HugeLengthFieldIsReportedNotAllocatedAndIsCorruptNotTorn) {
  const TestFile good = SmallFile();
  const std::string bogus = "CRC!" + LittleEndian64(uint64_t{1} << 60) + "some frame bytes";
  for (bool intact_after : {false, true}) {
    const std::string bytes = good.bytes + bogus + (intact_after ? good.bytes : "");
    const std::string path = WriteFile("huge.pbfs", bytes);
    for (PbfsReadMode mode : kBothModes) {
      for (const PbfsContents& got : {MustRead(bytes, mode), MustReadFile(path, mode)}) {
        SCOPED_TRACE(got.report.problem);
        EXPECT_EQ(got.report.end, PbfsEnd::kCorrupt);
        EXPECT_EQ(got.report.problem_offset, good.bytes.size());
        EXPECT_NE(got.report.problem.find("claims 1152921504606846976 bytes"), std::string::npos);
        const bool resumed = intact_after && mode == PbfsReadMode::kSalvage;
        EXPECT_EQ(got.report.chunks_read, good.chunks.size() * (resumed ? 2 : 1));
        // Salvage steps over the bogus chunk, to the good copy or to the end of the file.
        EXPECT_EQ(got.report.bytes_skipped, mode == PbfsReadMode::kSalvage ? bogus.size() : 0);
      }
    }
  }
}

// Another file under a .pbfs name must be kept, so it may not read as a torn tail: text, or
// binary data whose "length" is absurd, where a first chunk header should be. (A file shorter
// than a header holds no message and reads as torn, like any truncation.)
TEST(PbfsReaderTest, FileThatIsNotPbfsIsCorruptAtOffsetZero) {
  for (const std::string& bytes :
       {std::string("timestamp,value\n1,2\n3,4\n"),
        std::string("CRC!") + LittleEndian64(kPbfsMaxPlausibleChunkBytes + 1) + "abc"}) {
    for (PbfsReadMode mode : kBothModes) {
      const PbfsContents got = MustRead(bytes, mode);
      SCOPED_TRACE(got.report.problem);
      EXPECT_EQ(got.report.end, PbfsEnd::kCorrupt);
      EXPECT_EQ(got.report.problem_offset, 0u);
      EXPECT_EQ(got.report.messages_read, 0u);
    }
  }
}

// What a crash leaves of a file's first chunk: zeros, or a plausible header cut short.
TEST(PbfsReaderTest, FirstChunkCutShortOrZeroedIsStillATornTail) {
  const TestFile file = SmallFile();
  for (const std::string& bytes : {std::string(5, '\0'), std::string(4096, '\0'),
                                   file.bytes.substr(0, 20)}) {
    for (PbfsReadMode mode : kBothModes) {
      const PbfsContents got = MustRead(bytes, mode);
      SCOPED_TRACE(got.report.problem);
      EXPECT_EQ(got.report.end, PbfsEnd::kTornTail) << bytes.size() << " bytes";
    }
  }
}

TEST(PbfsReaderTest, ChunkWithMatchingCrcButOverrunningFrameIsCorrupt) {
  // N = 6 but the only frame claims 10 bytes: a writer bug, which no crash explains.
  const std::string tail = LittleEndian64(6) + std::string("\x0A\x00\x00\x00", 4) + "ab";
  std::string chunk(4, '\0');
  pbfs_internal::StoreLittleEndian32(Crc32(tail), &chunk[0]);
  chunk += tail;
  const TestFile good = SmallFile();
  const PbfsContents strict = MustRead(good.bytes + chunk, PbfsReadMode::kStrict);
  EXPECT_EQ(strict.report.end, PbfsEnd::kCorrupt);
  EXPECT_NE(strict.report.problem.find("frames do not tile it"), std::string::npos)
      << strict.report.problem;
  const PbfsContents salvaged = MustRead(chunk + good.bytes, PbfsReadMode::kSalvage);
  EXPECT_EQ(salvaged.report.end, PbfsEnd::kCorrupt);
  EXPECT_EQ(salvaged.messages, MessagesOf(good, good.chunks.size()));
  EXPECT_EQ(salvaged.report.bytes_skipped, chunk.size());
}

TEST(PbfsReaderTest, GarbageBetweenChunksIsSkippedAsOneRegion) {
  const TestFile file = SmallFile();
  std::string garbage;
  for (int i = 0; i < 1000; ++i) garbage.push_back(static_cast<char>(1 + (i * 131) % 255));
  const std::string bytes =
      file.bytes.substr(0, file.starts[2]) + garbage + file.bytes.substr(file.starts[2]);
  const PbfsContents strict = MustRead(bytes, PbfsReadMode::kStrict);
  EXPECT_EQ(strict.report.end, PbfsEnd::kCorrupt);
  EXPECT_EQ(strict.messages, MessagesOf(file, 2));
  const PbfsContents salvaged = MustRead(bytes, PbfsReadMode::kSalvage);
  EXPECT_EQ(salvaged.messages, MessagesOf(file, file.chunks.size()));
  EXPECT_EQ(salvaged.report.regions_skipped, 1u);
  EXPECT_EQ(salvaged.report.bytes_skipped, garbage.size());
  EXPECT_EQ(salvaged.report.problem_offset, file.starts[2]);
}

// The salvage scan must cross the 1 MiB read window correctly when reading a file.
TEST(PbfsReaderTest, SalvageSkipsACorruptChunkLargerThanTheReadWindow) {
  const TestFile file =
      BuildFile({{"before"}, {std::string(3 << 20, 'b')}, {"after", "it"}, {"end"}});
  std::string bytes = file.bytes;
  bytes[file.starts[1] + 2'000'000] ^= 0x01;
  const std::string path = WriteFile("big-corrupt.pbfs", bytes);
  const PbfsContents salvaged = MustReadFile(path, PbfsReadMode::kSalvage);
  EXPECT_EQ(salvaged.report.end, PbfsEnd::kCorrupt);
  EXPECT_EQ(salvaged.messages, (Messages{"before", "after", "it", "end"}));
  EXPECT_EQ(salvaged.report.bytes_skipped, file.ChunkSize(1));
  EXPECT_EQ(MustReadFile(path, PbfsReadMode::kStrict).messages, Messages{"before"});
}

// A preallocated or padded file can end in a long zero run; the scan for an intact chunk
// must not walk it.
TEST(PbfsReaderTest, LongZeroTailOnDiskIsTornTail) {
  const TestFile file = SmallFile();
  const std::string path = WriteFile("zero-tail.pbfs", file.bytes);
  ASSERT_EQ(truncate(path.c_str(), file.bytes.size() + (64 << 20)), 0);
  const PbfsContents got = MustReadFile(path, PbfsReadMode::kSalvage);
  EXPECT_EQ(got.report.end, PbfsEnd::kTornTail) << got.report.problem;
  EXPECT_EQ(got.messages, MessagesOf(file, file.chunks.size()));
  EXPECT_EQ(got.report.tail_bytes, uint64_t{64} << 20);
}

TEST(PbfsReaderTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = TempPath("no-such-file.pbfs");
  const absl::StatusOr<PbfsContents> got = ReadPbfsFile(path, PbfsReadMode::kStrict);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(got.status().message().find(path), absl::string_view::npos) << got.status();
}

TEST(PbfsReaderTest, DirectoryIsNotARegularFile) {
  const absl::StatusOr<PbfsContents> got = ReadPbfsFile(TempPath(""), PbfsReadMode::kStrict);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition) << got.status();
}

TEST(PbfsReaderTest, FileThatShrinksWhileBeingReadIsAnAbortedError) {
  const std::string path = WriteFile("shrinks.pbfs", SmallFile().bytes);
  absl::StatusOr<std::unique_ptr<PbfsReader>> reader =
      PbfsReader::OpenFile(path, PbfsReadMode::kStrict);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ(truncate(path.c_str(), 5), 0);
  absl::string_view message;
  EXPECT_FALSE((*reader)->Next(&message));
  EXPECT_EQ((*reader)->status().code(), absl::StatusCode::kAborted) << (*reader)->status();
  EXPECT_FALSE((*reader)->Next(&message));
}

TEST(PbfsReaderTest, EndNamesAreReadable) {
  EXPECT_EQ(PbfsEndName(PbfsEnd::kClean), "clean");
  EXPECT_EQ(PbfsEndName(PbfsEnd::kTornTail), "torn tail");
  EXPECT_EQ(PbfsEndName(PbfsEnd::kCorrupt), "corrupt");
}

}  // namespace
}  // namespace sift_stream::io
