#include "engine/file_reingester.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "io/pbfs_encoder.h"
#include "proto/sift/ingest/v1/ingest.pb.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"
#include "testing/fake_sift.h"

namespace sift_stream::engine {
namespace {

using sift_stream::testing::FakeSift;
using sift_stream::testing::FakeSiftOptions;
using sift_stream::testing::FaultPlan;

constexpr char kKey[] = "file-reingester-test-key";

class FileReingesterTest : public ::testing::Test {
 protected:
  // A fake Sift accepting kKey with flow "f" (one double channel), and an empty directory.
  void SetUp() override {
    FakeSiftOptions options;
    options.api_keys = {kKey};
    auto sift = FakeSift::Start(options);
    ASSERT_TRUE(sift.ok()) << sift.status();
    sift_ = std::move(sift).value();
    sift::ingestion_configs::v2::CreateIngestionConfigRequest create;
    create.set_asset_name("rig");
    auto* flow = create.add_flows();
    flow->set_name("f");
    auto* channel = flow->add_channels();
    channel->set_name("v");
    channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);
    auto config = sift_->registry().CreateIngestionConfig(create);
    ASSERT_TRUE(config.ok()) << config.status();
    config_id_ = config->ingestion_config_id();
    dir_ = absl::StrCat(::testing::TempDir(), "/",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0) << dir_;
  }

  // Message i: timestamp i microseconds, value i.
  std::string Message(int64_t i) const {
    sift::ingest::v1::IngestWithConfigDataStreamRequest request;
    request.set_ingestion_config_id(config_id_);
    request.set_flow("f");
    request.mutable_timestamp()->set_seconds(i / 1000000);
    request.mutable_timestamp()->set_nanos(static_cast<int32_t>(i % 1000000) * 1000);
    request.add_channel_values()->set_double_(static_cast<double>(i));
    return request.SerializeAsString();
  }

  // Messages [first, first + count) in chunks of `per_chunk`; returns the path and, if
  // asked, each chunk's offset.
  std::string WriteFile(const std::string& name, int64_t first, int64_t count,
                        int64_t per_chunk = 500, std::vector<uint64_t>* chunks = nullptr) {
    const std::string path = absl::StrCat(dir_, "/", name, ".pbfs");
    std::ofstream out(path, std::ios::binary);
    io::PbfsChunkEncoder encoder;
    uint64_t offset = 0;
    for (int64_t i = first; i < first + count; ++i) {
      EXPECT_TRUE(encoder.Add(Message(i)).ok());
      if (encoder.message_count() == static_cast<size_t>(per_chunk) || i + 1 == first + count) {
        const absl::string_view chunk = encoder.Seal();
        if (chunks != nullptr) chunks->push_back(offset);
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        offset += chunk.size();
        encoder.Reset();
      }
    }
    EXPECT_TRUE(out.good()) << path;
    return path;
  }

  FileReingestOptions Options() const {
    FileReingestOptions options;
    options.uri = sift_->address();
    options.api_key = kKey;
    options.retry.initial_backoff = absl::Milliseconds(20);
    options.retry.max_backoff = absl::Milliseconds(60);
    options.deadline = absl::Seconds(20);  // A hang fails the test instead of timing it out.
    return options;
  }

  static bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }
  int64_t Committed() const { return sift_->Stats().ingest.committed_messages; }

  std::unique_ptr<FakeSift> sift_;
  std::string config_id_;
  std::string dir_;
};

TEST_F(FileReingesterTest, FilesAreCommittedInOrderDeletedAndProgressReachesTheTotal) {
  const std::vector<std::string> files = {WriteFile("a", 0, 3000), WriteFile("b", 3000, 2000),
                                          WriteFile("c", 5000, 1000)};
  FileReingestOptions options = Options();
  std::vector<FileReingestProgress> seen;
  options.progress_interval = absl::ZeroDuration();
  options.on_progress = [&](const FileReingestProgress& p) { seen.push_back(p); };
  absl::StatusOr<FileReingestReport> report = ReingestFiles(files, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->all_reingested()) << absl::StrJoin(report->errors, "\n");
  EXPECT_EQ(Committed(), 6000);
  EXPECT_EQ(report->messages, 6000u);
  EXPECT_EQ(report->files_reingested, 3u);
  ASSERT_EQ(report->files.size(), 3u);
  EXPECT_EQ(report->files[1].path, files[1]);
  EXPECT_EQ(report->files[1].messages, 2000u);
  for (const FileReingestResult& file : report->files) {
    EXPECT_EQ(file.outcome, FileOutcome::kReingested) << file.path;
    EXPECT_TRUE(file.deleted) << file.path;
    EXPECT_FALSE(Exists(file.path)) << file.path;
  }
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().files_done, 3u);
  EXPECT_EQ(seen.back().files_total, 3u);
  EXPECT_EQ(seen.back().messages_acknowledged, 6000u);
  EXPECT_EQ(seen.back().input_bytes_done, seen.back().input_bytes_total);
  EXPECT_GT(seen.back().input_bytes_total, 0u);
  EXPECT_TRUE(seen.back().current_file.empty());
}

TEST_F(FileReingesterTest, RetainKeepsFilesWhoseMessagesWereAcknowledged) {
  const std::vector<std::string> files = {WriteFile("a", 0, 100), WriteFile("b", 100, 100)};
  FileReingestOptions options = Options();
  options.retain = true;
  absl::StatusOr<FileReingestReport> report = ReingestFiles(files, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->all_reingested());
  EXPECT_EQ(Committed(), 200);
  for (const std::string& file : files) EXPECT_TRUE(Exists(file)) << file;
  EXPECT_FALSE(report->files[0].deleted);
}

TEST_F(FileReingesterTest, CorruptChunkIsSkippedItsIntactMessagesSentAndTheFileKept) {
  std::vector<uint64_t> chunks;
  const std::string damaged = WriteFile("a", 0, 300, 100, &chunks);
  {
    std::fstream file(damaged, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(chunks[1] + 12 + 20));  // Inside chunk 2's frames.
    file.put('\xff');
  }
  const std::string intact = WriteFile("b", 300, 100);
  absl::StatusOr<FileReingestReport> report = ReingestFiles({damaged, intact}, Options());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(Committed(), 300);  // 200 of the damaged file, 100 of the intact one.
  EXPECT_FALSE(report->all_reingested());
  EXPECT_EQ(report->files_damaged, 1u);
  EXPECT_EQ(report->files_reingested, 1u);
  const FileReingestResult& result = report->files[0];
  EXPECT_EQ(result.outcome, FileOutcome::kDamaged);
  EXPECT_EQ(result.messages, 200u);
  EXPECT_EQ(result.damage.end, io::PbfsEnd::kCorrupt);
  EXPECT_EQ(result.damage.problem_offset, chunks[1]);
  EXPECT_EQ(result.damage.bytes_skipped, chunks[2] - chunks[1]);
  ASSERT_FALSE(result.errors.empty());
  EXPECT_TRUE(absl::StrContains(result.errors[0], damaged)) << result.errors[0];
  EXPECT_TRUE(Exists(damaged));
  EXPECT_FALSE(Exists(intact));
}

TEST_F(FileReingesterTest, TornTailIsMeasuredBeforeTheFileIsSentAndPossiblyDeleted) {
  std::vector<uint64_t> chunks;
  const std::string path = WriteFile("a", 0, 300, 100, &chunks);
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(chunks[2] + 50)), 0);
  absl::StatusOr<FileReingestReport> report = ReingestFiles({path}, Options());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(Committed(), 200);
  const FileReingestResult& result = report->files[0];
  // Whether a torn tail keeps the file is the engine's policy; what was cut off is reported
  // either way.
  EXPECT_NE(result.outcome, FileOutcome::kFailed);
  EXPECT_EQ(result.messages, 200u);
  EXPECT_EQ(result.damage.end, io::PbfsEnd::kTornTail);
  EXPECT_EQ(result.damage.problem_offset, chunks[2]);
  EXPECT_EQ(result.damage.tail_bytes, 50u);
}

TEST_F(FileReingesterTest, MissingFileIsUnreadableAndTheOthersAreStillSent) {
  const std::string missing = absl::StrCat(dir_, "/gone.pbfs");
  const std::string present = WriteFile("b", 0, 100);
  absl::StatusOr<FileReingestReport> report = ReingestFiles({missing, present}, Options());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(Committed(), 100);
  EXPECT_EQ(report->files[0].outcome, FileOutcome::kUnreadable);
  EXPECT_EQ(report->files[1].outcome, FileOutcome::kReingested);
  EXPECT_EQ(report->files_unreadable, 1u);
  ASSERT_FALSE(report->files[0].errors.empty());
  EXPECT_TRUE(absl::StrContains(report->files[0].errors[0], missing));
}

TEST_F(FileReingesterTest, StreamFailingOnceRetriesOnlyTheFileItWasSending) {
  FaultPlan plan;
  plan.fail_at_end = {2, false};  // The second stream: the second file's first attempt.
  sift_->SetFaults(plan);
  const std::vector<std::string> files = {WriteFile("a", 0, 100), WriteFile("b", 100, 100),
                                          WriteFile("c", 200, 100)};
  absl::StatusOr<FileReingestReport> report = ReingestFiles(files, Options());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->all_reingested()) << absl::StrJoin(report->errors, "\n");
  EXPECT_EQ(report->retries, 1u);
  EXPECT_EQ(Committed(), 300);
  EXPECT_EQ(sift_->Stats().ingest.streams_opened, 4);  // 3 files + 1 retry, nothing more.
}

TEST_F(FileReingesterTest, RefusingServerFailsEveryFileClearlyAndKeepsThem) {
  FaultPlan plan;
  plan.reject_all_code = grpc::StatusCode::PERMISSION_DENIED;
  sift_->SetFaults(plan);
  const std::vector<std::string> files = {WriteFile("a", 0, 100), WriteFile("b", 100, 100)};
  absl::StatusOr<FileReingestReport> report = ReingestFiles(files, Options());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->files_failed, 2u);
  EXPECT_EQ(report->messages, 0u);
  EXPECT_EQ(report->retries, 0u);  // A refusal retrying cannot fix is not retried.
  for (const std::string& file : files) EXPECT_TRUE(Exists(file)) << file;
  const std::string all = absl::StrJoin(report->errors, "\n");
  EXPECT_TRUE(absl::StrContains(all, "refused")) << all;
  EXPECT_TRUE(absl::StrContains(all, files[0])) << all;
  ASSERT_FALSE(report->files[1].errors.empty());
  EXPECT_TRUE(absl::StrContains(report->files[1].errors[0], "not attempted"));
}

TEST_F(FileReingesterTest, WrongApiKeyIsReportedWithoutTheKey) {
  const std::string file = WriteFile("a", 0, 10);
  FileReingestOptions options = Options();
  options.api_key = "not-the-right-key-0123456789";
  absl::StatusOr<FileReingestReport> report = ReingestFiles({file}, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->files_failed, 1u);
  EXPECT_TRUE(Exists(file));
  ASSERT_FALSE(report->errors.empty());
  for (const std::string& error : report->errors) {
    EXPECT_FALSE(absl::StrContains(error, options.api_key)) << error;
  }
}

TEST_F(FileReingesterTest, DeadlineCancelsAHangingStreamAndKeepsTheFile) {
  FaultPlan plan;
  plan.hang_at_end = {1, true};
  plan.hang_at_end_for = absl::Seconds(30);
  sift_->SetFaults(plan);
  const std::string file = WriteFile("a", 0, 10);
  FileReingestOptions options = Options();
  options.deadline = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::StatusOr<FileReingestReport> report = ReingestFiles({file}, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(report->files_failed, 1u);
  EXPECT_TRUE(Exists(file));
}

TEST_F(FileReingesterTest, EmptyListOrAddressIsRefusedBeforeAnythingStarts) {
  EXPECT_TRUE(absl::IsInvalidArgument(ReingestFiles({}, Options()).status()));
  FileReingestOptions options = Options();
  options.uri.clear();
  EXPECT_TRUE(absl::IsInvalidArgument(ReingestFiles({"x.pbfs"}, options).status()));
}

TEST(RedactApiKeyTest, LongKeysAreRedactedEverywhereShortOnesOnlyWhereTheyStandAlone) {
  EXPECT_EQ(RedactApiKey("bad key abcdefgh1234 given", "abcdefgh1234"), "bad key [api key] given");
  EXPECT_EQ(RedactApiKey("xabcdefgh1234x", "abcdefgh1234"), "x[api key]x");
  EXPECT_EQ(RedactApiKey("checkpoint k failed", "k"), "checkpoint [api key] failed");
  EXPECT_EQ(RedactApiKey("nothing here", ""), "nothing here");
}

}  // namespace
}  // namespace sift_stream::engine
