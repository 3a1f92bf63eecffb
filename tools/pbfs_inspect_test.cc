#include "tools/pbfs_inspect.h"

#include <sys/stat.h>
#include <zlib.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "io/pbfs_encoder.h"
#include "tools/pbfs_reingest.h"

namespace sift_stream::tools {
namespace {

class PbfsInspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0) << dir_;
  }

  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(out.good()) << path;
    return path;
  }

  std::string dir_;
};

std::string Request(const std::string& flow, int64_t seconds, int32_t nanos) {
  IngestRequest request;
  request.set_ingestion_config_id("cfg");
  request.set_flow(flow);
  request.mutable_timestamp()->set_seconds(seconds);
  request.mutable_timestamp()->set_nanos(nanos);
  request.add_channel_values()->set_double_(1.5);
  return request.SerializeAsString();
}

void PutLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
}

// A chunk laid out by hand from ../shared/spec/pbfs.md, with zlib's crc32: what another Sift
// client writes. Independent of io/pbfs_encoder on purpose.
std::string SpecChunk(const std::vector<std::string>& messages) {
  std::string covered;
  uint64_t frames = 0;
  for (const std::string& m : messages) frames += 4 + m.size();
  PutLittleEndian(covered, frames, 8);
  for (const std::string& m : messages) {
    PutLittleEndian(covered, m.size(), 4);
    covered += m;
  }
  const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(covered.data()),
                          static_cast<uInt>(covered.size()));
  std::string chunk;
  PutLittleEndian(chunk, crc, 4);
  return chunk + covered;
}

TEST_F(PbfsInspectTest, FileLaidOutByHandFromTheSpecIsReadCleanWithEveryMessage) {
  const std::string path =
      Write("sift.pbfs", SpecChunk({Request("imu", 100, 5), Request("gps", 50, 0)}) +
                             SpecChunk({}) + SpecChunk({Request("imu", 200, 0)}));
  std::vector<uint64_t> visited;
  absl::StatusOr<PbfsInspection> inspection =
      InspectPbfsFile(path, [&](uint64_t index, const IngestRequest&) { visited.push_back(index); });
  ASSERT_TRUE(inspection.ok()) << inspection.status();
  EXPECT_TRUE(inspection->ok()) << DescribeProblems(*inspection);
  EXPECT_EQ(inspection->report.chunks_read, 3u);
  EXPECT_EQ(inspection->messages, 3u);
  EXPECT_EQ(visited, (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_EQ(*inspection->earliest, absl::FromUnixSeconds(50));
  EXPECT_EQ(*inspection->latest, absl::FromUnixSeconds(200));
  EXPECT_EQ(inspection->flows.at("imu"), 2u);
  EXPECT_EQ(inspection->flows.at("gps"), 1u);
  EXPECT_EQ(inspection->config_ids.at("cfg"), 3u);
  const std::string text = FormatInspection(*inspection);
  EXPECT_TRUE(absl::StrContains(text, "1970-01-01T00:00:50Z .. 1970-01-01T00:03:20Z")) << text;
  EXPECT_TRUE(absl::StrContains(text, "flows:        gps 1, imu 2")) << text;
  EXPECT_TRUE(absl::StrContains(text, "end:          clean")) << text;
}

TEST_F(PbfsInspectTest, OurEncoderAndTheSpecProduceTheSameBytes) {
  const std::vector<std::string> messages = {Request("imu", 1, 2), Request("gps", 3, 4)};
  absl::StatusOr<std::string> ours = io::EncodePbfsChunk(messages);
  ASSERT_TRUE(ours.ok());
  EXPECT_EQ(*ours, SpecChunk(messages));
}

TEST_F(PbfsInspectTest, TextFileIsCorruptAtOffsetZeroNotATornTail) {
  const std::string path = Write("notes.pbfs", "this is a text file, not a backup\n");
  absl::StatusOr<PbfsInspection> inspection = InspectPbfsFile(path);
  ASSERT_TRUE(inspection.ok());
  EXPECT_TRUE(inspection->not_pbfs);
  EXPECT_EQ(inspection->report.end, io::PbfsEnd::kCorrupt);
  EXPECT_TRUE(absl::StartsWith(DescribeEnd(*inspection), "corrupt at offset 0: not a PBFS file"))
      << DescribeEnd(*inspection);
}

TEST_F(PbfsInspectTest, ZeroFilledFileStaysATornTailNotForeignData) {
  const std::string path = Write("zeros.pbfs", std::string(4096, '\0'));
  absl::StatusOr<PbfsInspection> inspection = InspectPbfsFile(path);
  ASSERT_TRUE(inspection.ok());
  EXPECT_FALSE(inspection->not_pbfs);
  EXPECT_EQ(inspection->report.end, io::PbfsEnd::kTornTail);
  EXPECT_FALSE(inspection->ok());
}

TEST_F(PbfsInspectTest, MessageThatDoesNotParseFailsVerifyEvenInACleanFile) {
  const std::string path = Write("g.pbfs", SpecChunk({Request("imu", 1, 0), "\xff\xff\xff"}));
  absl::StatusOr<PbfsInspection> inspection = InspectPbfsFile(path);
  ASSERT_TRUE(inspection.ok());
  EXPECT_EQ(inspection->report.end, io::PbfsEnd::kClean);
  EXPECT_EQ(inspection->unparseable, 1u);
  EXPECT_EQ(inspection->first_unparseable, 1u);
  EXPECT_FALSE(inspection->ok());
  EXPECT_TRUE(absl::StrContains(DescribeProblems(*inspection), "1 message does not parse"));
}

TEST_F(PbfsInspectTest, DirectoryStandsForItsPbfsFilesSortedByName) {
  Write("b.pbfs", "");
  Write("a.pbfs", "");
  Write("c.txt", "");
  ASSERT_EQ(mkdir(absl::StrCat(dir_, "/d.pbfs").c_str(), 0700), 0);  // Not a regular file.
  absl::StatusOr<std::vector<std::string>> files = ExpandPbfsPath(dir_);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(*files, (std::vector<std::string>{dir_ + "/a.pbfs", dir_ + "/b.pbfs"}));
}

TEST_F(PbfsInspectTest, MissingPathAndDirectoryWithoutPbfsFilesAreClearErrors) {
  absl::StatusOr<std::vector<std::string>> missing = ExpandPbfsPath(dir_ + "/nope");
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_TRUE(absl::StrContains(missing.status().message(), dir_ + "/nope"));
  Write("readme.txt", "");
  absl::StatusOr<std::vector<std::string>> empty = ExpandPbfsPath(dir_);
  EXPECT_TRUE(absl::IsFailedPrecondition(empty.status())) << empty.status();
  EXPECT_TRUE(absl::StrContains(empty.status().message(), "no .pbfs files"));
}

// Two files of five done, a quarter of the bytes read in 2 s, reading c.pbfs.
engine::FileReingestProgress QuarterDone() {
  engine::FileReingestProgress p;
  p.files_done = 2;
  p.files_total = 5;
  p.messages_sent = 1000;
  p.messages_acknowledged = 600;
  p.input_bytes_done = 250;
  p.input_bytes_total = 1000;
  p.elapsed = absl::Seconds(2);
  p.current_file = "/x/y/c.pbfs";
  return p;
}

TEST(PbfsReingestFormatTest, ProgressLineShowsFilesRateAndPercent) {
  const engine::FileReingestProgress p = QuarterDone();
  EXPECT_EQ(FormatProgress(p),
            "2/5 files, 1000 messages sent (500 msgs/s), 600 acknowledged, 25% of 0.0 MB: c.pbfs");
}

TEST(PbfsReingestFormatTest, TerminalBarShowsShareDoneEtaAndCounts) {
  engine::FileReingestProgress p = QuarterDone();
  EXPECT_EQ(FormatProgressBar(p, 0),
            "[######..................] 25%  ETA 0:06  2/5 files  1,000 msgs (500/s)  600 acked"
            "  c.pbfs");
  p.retries = 3;
  p.input_bytes_done = 1000;
  p.current_file.clear();
  EXPECT_EQ(FormatProgressBar(p, 0),
            "[########################] 100%  2/5 files  1,000 msgs (500/s)  600 acked  3 retries");
}

TEST(PbfsReingestFormatTest, TerminalBarIsCutToTheTerminalsWidth) {
  engine::FileReingestProgress p;
  p.files_total = 1;
  p.input_bytes_total = 10;
  p.current_file = "a-very-long-backup-file-name-000001-0001.pbfs";
  EXPECT_EQ(FormatProgressBar(p, 30).size(), 29u);
  EXPECT_GT(FormatProgressBar(p, 0).size(), 29u);
}

TEST(PbfsReingestFormatTest, SummaryNamesWhatWasSkippedInADamagedFile) {
  engine::FileReingestReport report;
  engine::FileReingestResult damaged;
  damaged.path = "/x/d.pbfs";
  damaged.outcome = engine::FileOutcome::kDamaged;
  damaged.messages = 7;
  damaged.damage.end = io::PbfsEnd::kCorrupt;
  damaged.damage.problem_offset = 4096;
  damaged.damage.problem = "CRC mismatch";
  damaged.damage.bytes_skipped = 100;
  damaged.damage.regions_skipped = 1;
  report.files.push_back(damaged);
  report.files_damaged = 1;
  report.messages = 7;
  const std::string summary = FormatSummary(report, "h:1");
  EXPECT_TRUE(absl::StrContains(summary, "damaged      /x/d.pbfs: 7 intact messages re-ingested; "
                                         "corrupt at offset 4096: CRC mismatch; 100 bytes "
                                         "skipped in 1 region"))
      << summary;
  EXPECT_TRUE(absl::StrContains(summary, "summary: 0 re-ingested, 1 damaged, 0 unreadable, 0 "
                                         "failed; 7 messages"))
      << summary;
}

}  // namespace
}  // namespace sift_stream::tools
