// FinishWithReport and NoRetries, end to end against the fake Sift's fault injection: the
// report's acknowledged count is the server's committed count, its on-disk count is what the
// kept files hold (read back with the PBFS reader), and nothing is claimed twice or missing.

#include "engine/finish_report.h"

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "engine/sift_stream_test_fixture.h"
#include "gtest/gtest.h"
#include "io/pbfs_reader.h"

namespace sift_stream {
namespace {

// The ".pbfs" files in `dir`, full paths, sorted.
std::vector<std::string> PbfsFiles(const std::string& dir) {
  std::vector<std::string> files;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (absl::EndsWith(e->d_name, ".pbfs")) files.push_back(absl::StrCat(dir, "/", e->d_name));
    }
    closedir(d);
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Messages in `files`, read strictly: a damaged file fails the test.
int64_t MessagesIn(const std::vector<std::string>& files) {
  int64_t messages = 0;
  for (const std::string& file : files) {
    auto contents = io::ReadPbfsFile(file, io::PbfsReadMode::kStrict);
    EXPECT_TRUE(contents.ok()) << contents.status();
    if (contents.ok()) messages += static_cast<int64_t>(contents->messages.size());
  }
  return messages;
}

std::vector<std::string> KeptFiles(const FinishReport& report) {
  std::vector<std::string> files;
  for (const KeptCheckpoint& kept : report.kept) {
    files.insert(files.end(), kept.files.begin(), kept.files.end());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class FinishReportTest : public SiftStreamTest {
 protected:
  // `rounds` bursts a checkpoint interval apart, so that the messages span several
  // checkpoints (and so several streams) whatever the machine's speed.
  void SendInRounds(SiftStream& stream, int rounds, int per_round) {
    for (int r = 0; r < rounds; ++r) {
      for (int i = r * per_round; i < (r + 1) * per_round; ++i) {
        const absl::Status s = SendNumbered(stream, i);
        ASSERT_TRUE(s.ok()) << s;
      }
      absl::SleepFor(absl::Milliseconds(300));
    }
  }

  // What every report must say, whatever happened: the acknowledged count is the server's,
  // the kept files are exactly the stream's unacknowledged files on disk, and they hold
  // exactly messages_on_disk messages.
  void ExpectReportMatchesServerAndDisk(const FinishReport& report, int64_t sent) {
    const auto stats = sift_->Stats().ingest;
    EXPECT_EQ(report.messages_sent, static_cast<uint64_t>(sent));
    EXPECT_EQ(static_cast<int64_t>(report.messages_acknowledged), stats.committed_messages)
        << stats.ToJson();
    EXPECT_EQ(KeptFiles(report), PbfsFiles(backup_dir_));
    EXPECT_EQ(static_cast<int64_t>(report.messages_on_disk), MessagesIn(KeptFiles(report)));
    uint64_t kept_messages = 0, acknowledged_live = 0;
    for (const KeptCheckpoint& kept : report.kept) {
      EXPECT_FALSE(kept.files.empty()) << "checkpoint " << kept.checkpoint;
      EXPECT_EQ(kept.messages_on_disk, kept.messages) << "checkpoint " << kept.checkpoint;
      kept_messages += kept.messages;
      acknowledged_live += kept.messages_acknowledged_live;
    }
    EXPECT_EQ(report.messages_on_disk, kept_messages);
    // Every message counted once: acknowledged, or only on disk.
    EXPECT_EQ(report.messages_acknowledged + kept_messages - acknowledged_live,
              static_cast<uint64_t>(sent));
    EXPECT_EQ(report.messages_unprotected, 0u);
    std::printf("sent %lld: acknowledged %llu (%llu live in kept checkpoints), %zu checkpoint(s) "
                "kept holding %llu on disk; server committed %lld\n",
                static_cast<long long>(sent),
                static_cast<unsigned long long>(report.messages_acknowledged),
                static_cast<unsigned long long>(acknowledged_live), report.kept.size(),
                static_cast<unsigned long long>(report.messages_on_disk),
                static_cast<long long>(stats.committed_messages));
  }
};

TEST_F(FinishReportTest, NoRetriesKeepsTheFailedCheckpointOnDiskAndNeverResendsIt) {
  FaultPlan plan;
  plan.fail_at_end = {2, false};  // Sift reads the 2nd stream whole, then fails it.
  plan.fail_at_end_code = grpc::StatusCode::INTERNAL;
  sift_->SetFaults(plan);
  auto stream = Builder().NoRetries().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendInRounds(**stream, 4, 2000);
  const FinishReport report = (*stream)->FinishWithReport(absl::Seconds(30));
  EXPECT_TRUE(absl::IsUnavailable(report.status)) << report.status;
  EXPECT_TRUE(absl::StrContains(report.status.message(), "NoRetries")) << report.status;
  ASSERT_EQ(report.kept.size(), 1u) << "only the 2nd stream failed";
  EXPECT_GT(report.kept[0].messages, 0u);
  EXPECT_EQ(report.checkpoints_reingested, 0u);
  ExpectReportMatchesServerAndDisk(report, 8000);
  EXPECT_LT(sift_->Stats().ingest.committed_messages, 8000);
  EXPECT_EQ(sift_->Stats().ingest.duplicate_messages, 0) << "a failed checkpoint was re-sent";
  EXPECT_EQ((*stream)->Metrics().messages_reingested, 0u);
  // Asking again gives the same answer.
  EXPECT_EQ((*stream)->FinishWithReport(absl::Seconds(1)).messages_on_disk,
            report.messages_on_disk);
}

// The live queue overflows while the live path backs off after a failed stream: the next
// checkpoint fails although its stream ends OK, so part of it is acknowledged as well as kept,
// and must be counted once.
TEST_F(FinishReportTest, NoRetriesWithLiveDropsCountsThePartSiftAcknowledgedOnce) {
  FaultPlan plan;
  plan.end_stream = {1, false};
  plan.end_stream_after_messages = 10;
  sift_->SetFaults(plan);
  RetryPolicy backoff;  // Long enough for far more than 100 messages to arrive meanwhile.
  backoff.initial_backoff = absl::Milliseconds(300);
  backoff.max_backoff = absl::Milliseconds(300);
  auto stream = Builder().NoRetries().DataCapacity(100).LiveRetry(backoff).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 10000);
  const FinishReport report = (*stream)->FinishWithReport(absl::Seconds(30));
  EXPECT_TRUE(absl::IsUnavailable(report.status)) << report.status;
  ASSERT_GT((*stream)->Metrics().messages_dropped_live, 0u) << "the live queue never overflowed";
  uint64_t acknowledged_live = 0;
  for (const KeptCheckpoint& kept : report.kept) {
    acknowledged_live += kept.messages_acknowledged_live;
  }
  EXPECT_GT(acknowledged_live, 0u) << "no kept checkpoint was partly acknowledged";
  ExpectReportMatchesServerAndDisk(report, 10000);
}

TEST_F(FinishReportTest, NoRetriesDeadlineWithAHangingServerReportsEverythingOnDisk) {
  FaultPlan plan;
  plan.hang_at_end = {1, true};  // No acknowledgement for 30 s, on every stream.
  plan.hang_at_end_for = absl::Seconds(30);
  sift_->SetFaults(plan);
  auto stream = Builder().NoRetries().AckTimeout(absl::Seconds(20)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 2, 5000);
  const FinishReport report = (*stream)->FinishWithReport(absl::Milliseconds(500));
  EXPECT_FALSE(report.status.ok());
  EXPECT_EQ(report.messages_acknowledged, 0u);
  EXPECT_GE(report.kept.size(), 1u);
  ExpectReportMatchesServerAndDisk(report, 5000);
}

TEST_F(FinishReportTest, WithRetriesAReingestedCheckpointIsAcknowledgedOnceAndNothingKept) {
  FaultPlan plan;
  plan.fail_at_end = {2, false};
  plan.fail_at_end_code = grpc::StatusCode::INTERNAL;
  sift_->SetFaults(plan);
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendInRounds(**stream, 4, 2000);
  const FinishReport report = (*stream)->FinishWithReport(absl::Seconds(30));
  EXPECT_TRUE(report.status.ok()) << report.status;
  EXPECT_TRUE(report.kept.empty());
  EXPECT_GE(report.checkpoints_reingested, 1u);
  EXPECT_EQ(report.messages_acknowledged, 8000u);
  ExpectReportMatchesServerAndDisk(report, 8000);
}

TEST_F(FinishReportTest, LiveOnlyReportsTheFailedCheckpointAsUnprotected) {
  FaultPlan plan;
  plan.fail_at_end = {2, false};
  plan.fail_at_end_code = grpc::StatusCode::INTERNAL;
  sift_->SetFaults(plan);
  auto stream = Builder().Mode(StreamMode::kLiveOnly).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendInRounds(**stream, 4, 2000);
  const FinishReport report = (*stream)->FinishWithReport(absl::Seconds(30));
  EXPECT_TRUE(absl::IsDataLoss(report.status)) << report.status;
  EXPECT_TRUE(report.kept.empty());
  EXPECT_EQ(static_cast<int64_t>(report.messages_acknowledged),
            sift_->Stats().ingest.committed_messages);
  EXPECT_GT(report.messages_unprotected, 0u);
  EXPECT_EQ(report.messages_acknowledged + report.messages_unprotected, 8000u);
}

TEST_F(FinishReportTest, BackupsOnlyReportsOneKeptCheckpointHoldingEveryMessage) {
  auto stream = Builder().Mode(StreamMode::kBackupsOnly).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 3000);
  const FinishReport report = (*stream)->FinishWithReport(absl::Seconds(10));
  EXPECT_TRUE(report.status.ok()) << report.status;
  ASSERT_EQ(report.kept.size(), 1u);
  EXPECT_EQ(report.messages_acknowledged, 0u);
  ExpectReportMatchesServerAndDisk(report, 3000);
}

TEST(OutcomeLedgerTest, ACheckpointThatDroppedLiveCountsItsAcknowledgedPartOnce) {
  engine::OutcomeLedger ledger;
  ledger.Ended(1, 100);
  ledger.Complete(1, 100);
  ledger.Ended(2, 250);  // Dropped from the live queue: 90 of its 150 acknowledged live.
  ledger.NeedsReingestion(2);
  ledger.Complete(2, 90);
  ledger.Ended(3, 300);  // Failed, and its files are gone without re-ingestion: lost.
  ledger.NeedsReingestion(3);
  ledger.Complete(3, 0);
  engine::OutcomeLedger::Inputs inputs;
  inputs.messages_sent = 300;
  inputs.durable_messages = 300;
  inputs.unconfirmed_files = {"/d/s-000002-0000.pbfs", "/d/s-000002-0001.pbfs"};
  const FinishReport report = ledger.Report(inputs);
  EXPECT_EQ(report.messages_acknowledged, 190u);
  EXPECT_EQ(report.checkpoints_acknowledged, 1u);
  ASSERT_EQ(report.kept.size(), 1u);
  EXPECT_EQ(report.kept[0].checkpoint, 2u);
  EXPECT_EQ(report.kept[0].messages, 150u);
  EXPECT_EQ(report.kept[0].messages_on_disk, 150u);
  EXPECT_EQ(report.kept[0].messages_acknowledged_live, 90u);
  EXPECT_EQ(report.kept[0].files.size(), 2u);
  EXPECT_EQ(report.messages_unprotected, 50u);
  inputs.reingests = true;  // Now checkpoint 3's files are gone because Sift took them.
  EXPECT_EQ(ledger.Report(inputs).messages_acknowledged, 240u);
  EXPECT_EQ(ledger.Report(inputs).messages_unprotected, 0u);
}

TEST(OutcomeLedgerTest, CheckpointNumbersComeFromBackupFileNames) {
  EXPECT_EQ(engine::CheckpointOfBackupFile("/d/0123abcd-000042-0003.pbfs"), 42u);
  EXPECT_EQ(engine::CheckpointOfBackupFile("0123abcd-1234567-0000.pbfs"), 1234567u);
  EXPECT_EQ(engine::CheckpointOfBackupFile("/d/0123abcd-000042-0003.pbfs.acked"), 0u);
  EXPECT_EQ(engine::CheckpointOfBackupFile("/d/junk.pbfs"), 0u);
}

}  // namespace
}  // namespace sift_stream
