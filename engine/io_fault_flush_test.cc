// Flush under disk faults, through the whole engine: Flush confirms only what its fdatasync
// and directory fsync made durable, and what it confirmed outlives a disk that fails later;
// a failed delete of an acknowledged file loses nothing. (io_fault_test.cc: the rest.)

#include <errno.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/io_fault_test_fixture.h"
#include "engine/sift_stream.h"
#include "gtest/gtest.h"
#include "io/fault_injection.h"

namespace sift_stream {
namespace {

using io::FaultOp;
using io::ScopedFaultPlan;
using io_fault_test::BackupFiles;
using io_fault_test::IoFaultTest;

// Flush may say OK only after the fdatasync it asked for succeeded: one that fails must make
// Flush fail, and the fault firing proves Flush asked for one at all.
TEST_F(IoFaultTest, FlushWaitsForItsFdatasyncAndFailsWhenItFails) {
  DiskBackupPolicy backups = Policy();
  backups.max_file_size_bytes = 64 << 20;  // One file: no rotation syncs it behind Flush's back.
  auto stream = Builder(backups).Mode(StreamMode::kBackupsOnly).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE(SendUntil(**stream, 2000).ok());
  io::FaultPlan plan;
  const int eio = plan.Add({.op = FaultOp::kDataSync, .nth = 1, .error = EIO,
                            .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  const absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
  EXPECT_EQ(plan.fired(eio), 1) << "Flush returned without an fdatasync of the backup file";
  EXPECT_TRUE(absl::IsDataLoss(flushed)) << flushed;
  EXPECT_TRUE(absl::StrContains(flushed.message(), "Input/output error")) << flushed;
}

// The directory entry of a new file is part of "durable": its fsync failing fails Flush too.
TEST_F(IoFaultTest, FlushWaitsForTheDirectoryFsyncOfANewFile) {
  auto stream = Builder(Policy()).Mode(StreamMode::kBackupsOnly).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  io::FaultPlan plan;
  const int eio = plan.Add({.op = FaultOp::kFullSync, .nth = 1, .error = EIO});
  ScopedFaultPlan scoped(&plan);
  const absl::Status sent = SendUntil(**stream, 10);  // Creates the first file.
  const absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
  EXPECT_EQ(plan.fired(eio), 1) << "no directory fsync for the new file";
  EXPECT_FALSE(flushed.ok()) << "Flush confirmed a file whose directory entry failed to sync";
  EXPECT_TRUE(absl::IsDataLoss(flushed) || !sent.ok()) << flushed;
}

// What a Flush confirmed outlives a disk that fails afterwards: the next stream on the
// directory recovers it from the files, and Sift commits every confirmed message.
TEST_F(IoFaultTest, MessagesAFlushConfirmedSurviveALaterDiskFailure) {
  int confirmed = 0;
  {
    auto stream = Builder(Policy()).Mode(StreamMode::kBackupsOnly).Build();
    ASSERT_TRUE(stream.ok()) << stream.status();
    ASSERT_TRUE(SendUntil(**stream, 5000).ok());
    const absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
    ASSERT_TRUE(flushed.ok()) << flushed;
    confirmed = accepted_;
    io::FaultPlan plan;
    const int eio = plan.Add({.op = FaultOp::kWrite, .nth = 1, .error = EIO,
                              .and_after = true, .path_contains = ".pbfs"});
    ScopedFaultPlan scoped(&plan);
    const absl::Status refused = SendUntilRefused(**stream);
    ASSERT_FALSE(refused.ok()) << "the disk failed and Send never said so";
    EXPECT_GT(plan.fired(eio), 0);
    EXPECT_FALSE((*stream)->Finish(absl::Seconds(10)).ok());
  }
  auto recovering = Builder(Policy()).Build();
  ASSERT_TRUE(recovering.ok()) << recovering.status();
  (void)(*recovering)->Finish(absl::Seconds(30));  // Damaged tails may make it say DataLoss.
  int missing = 0, first_missing = -1;
  for (int i = 0; i < confirmed; ++i) {
    if (Committed(**recovering, i)) continue;
    if (first_missing < 0) first_missing = i;
    ++missing;
  }
  EXPECT_EQ(missing, 0) << "of " << confirmed << " confirmed messages, first " << first_missing;
  EXPECT_GE((*recovering)->Metrics().messages_recovered, static_cast<uint64_t>(confirmed));
}

// Deleting an acknowledged file fails (EIO): the data is in Sift, so streaming goes on, the
// failure is reported, the file is left — and the next stream's recovery sends it again and
// deletes it (duplicates, never loss). Both deleters meet it: the backup manager (checkpoints
// acknowledged live) and re-ingestion (the second stream is cut, so its checkpoint is
// re-ingested).
TEST_F(IoFaultTest, FailedDeletesOfAcknowledgedFilesLoseNothingAndAreRecoveredLater) {
  testing::FaultPlan cut_second_stream;
  cut_second_stream.end_stream = {2, false};
  cut_second_stream.end_stream_after_messages = 100;
  sift_->SetFaults(cut_second_stream);
  {
    auto stream = Builder(Policy()).Build();
    ASSERT_TRUE(stream.ok()) << stream.status();
    io::FaultPlan plan;
    const int eio = plan.Add({.op = FaultOp::kUnlink, .nth = 1, .error = EIO,
                              .and_after = true, .path_contains = ".pbfs"});
    ScopedFaultPlan scoped(&plan);
    ASSERT_TRUE(SendUntil(**stream, 20000).ok()) << "a failed delete must not stop Send";
    const FinishReport report = (*stream)->FinishWithReport(absl::Seconds(20));
    EXPECT_GT(plan.fired(eio), 0) << "no acknowledged file was deleted";
    EXPECT_EQ(sift_->Stats().ingest.committed_messages, accepted_);
    // Sift has everything: Finish says so, and names the files it could not delete.
    EXPECT_TRUE(report.status.ok()) << report.status;
    EXPECT_EQ(report.messages_acknowledged, static_cast<uint64_t>(accepted_));
    const std::vector<std::string> left = BackupFiles(backup_dir_);
    EXPECT_FALSE(left.empty());
    EXPECT_EQ(report.undeleted_files.size(), left.size());
    EXPECT_GE((*stream)->Metrics().reingest_jobs_done, 1u) << "nothing was re-ingested";
    // The backup manager's delete, or re-ingestion's (a checkpoint the full live queue cut).
    const std::string last_error = (*stream)->Metrics().last_error;
    EXPECT_TRUE(absl::StrContains(last_error, "delete ") &&
                absl::StrContains(last_error, "backup file") &&
                absl::StrContains(last_error, "Input/output error"))
        << last_error;
  }
  auto next = Builder(Policy()).Build();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE((*next)->Finish(absl::Seconds(30)).ok());
  EXPECT_TRUE(BackupFiles(backup_dir_).empty()) << "recovery left the undeletable files";
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, accepted_);
}

}  // namespace
}  // namespace sift_stream
