// End to end: SiftStream against the in-process fake Sift, real backup files, real io_uring.
// Every test asserts the lossless promise — every message sent is committed at the server
// (unique committed == sent) — and reports duplicates.

#include "engine/sift_stream.h"

#include <dirent.h>
#include <errno.h>
#include <sys/mount.h>
#include <string.h>
#include <sys/stat.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "io/pbfs_reader.h"
#include "engine/sift_stream_test_fixture.h"
#include "testing/fake_sift.h"

namespace sift_stream {
namespace {

using testing::FakeSift;
using testing::FakeSiftOptions;
using testing::FaultPlan;

TEST_F(SiftStreamTest, FourProducersWithoutFaultsLoseNothingAndLeaveNoFiles) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 4, 40000);
  absl::Status finished = (*stream)->Finish(absl::Seconds(30));
  EXPECT_TRUE(finished.ok()) << finished;
  ExpectNothingLost(40000);
  EXPECT_EQ(CountFiles(backup_dir_), 0);
  const SiftStreamMetrics m = (*stream)->Metrics();
  EXPECT_EQ(m.messages_sent, 40000u);
  EXPECT_EQ(m.messages_backed_up, 40000u);
  // Four producers may outrun the live stream: drops then come back through re-ingestion.
  EXPECT_GE(m.messages_acknowledged + m.messages_reingested, 40000u);
  EXPECT_EQ(m.messages_dropped_live > 0, m.checkpoints_failed > 0);
  EXPECT_GT(m.last_checkpoint_duration, absl::ZeroDuration());
}

TEST_F(SiftStreamTest, StreamCutMidCheckpointIsReingestedFromDisk) {
  FaultPlan plan;
  plan.end_stream = {1, false};
  plan.end_stream_after_messages = 300;
  sift_->SetFaults(plan);
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 2, 20000);
  absl::Status finished = (*stream)->Finish(absl::Seconds(30));
  EXPECT_TRUE(finished.ok()) << finished;
  ExpectNothingLost(20000);
  EXPECT_GE((*stream)->Metrics().reingest_jobs_done, 1u);
  EXPECT_EQ(CountFiles(backup_dir_), 0);
}

TEST_F(SiftStreamTest, OutageLongerThanSeveralCheckpointsLosesNothing) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  sift_->RefuseStreamsFor(absl::Milliseconds(1000));
  SendAll(**stream, 1, 5000);
  absl::SleepFor(absl::Milliseconds(500));  // Several checkpoints fail meanwhile.
  absl::Status finished = (*stream)->Finish(absl::Seconds(30));
  EXPECT_TRUE(finished.ok()) << finished;
  ExpectNothingLost(5000);
}

TEST_F(SiftStreamTest, ServerRestartMidStreamLosesNothing) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::thread restarter([&] {
    absl::SleepFor(absl::Milliseconds(100));
    ASSERT_TRUE(sift_->Restart(absl::Milliseconds(300)).ok());
  });
  SendAll(**stream, 2, 30000);
  restarter.join();
  absl::Status finished = (*stream)->Finish(absl::Seconds(30));
  EXPECT_TRUE(finished.ok()) << finished;
  ExpectNothingLost(30000);
}

TEST_F(SiftStreamTest, BackupsOnlyModeKeepsCleanFilesAndStreamsNothing) {
  auto stream = Builder().Mode(StreamMode::kBackupsOnly).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 3000);
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
  EXPECT_EQ(sift_->Stats().ingest.messages_received, 0);
  EXPECT_GE(CountFiles(backup_dir_), 1);
}

TEST_F(SiftStreamTest, FinishWithTheServerGoneNamesTheFilesItKeeps) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  sift_->Shutdown(absl::ZeroDuration());
  SendAll(**stream, 1, 1000);
  absl::Status finished = (*stream)->Finish(absl::Seconds(3));
  ASSERT_FALSE(finished.ok());
  EXPECT_NE(finished.message().find(".pbfs"), absl::string_view::npos) << finished;
  EXPECT_GE(CountFiles(backup_dir_), 1);
}

TEST_F(SiftStreamTest, MessagesThatDoNotFitTheirFlowAreRefusedClearly) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::Status s = (*stream)->Send("f", absl::Now(), {ChannelValue::Double(1)});
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  s = (*stream)->Send("nope", absl::Now(), {});
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
}

TEST_F(SiftStreamTest, RetainedBackupsStayAfterAcknowledgedCheckpoints) {
  DiskBackupPolicy backups;
  backups.backup_dir = backup_dir_;
  backups.retain_backups = true;
  auto stream = Builder().Backups(backups).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 5000);
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(20)).ok());
  ExpectNothingLost(5000);
  EXPECT_GE(CountFiles(backup_dir_), 1);
}

TEST_F(SiftStreamTest, RotationAndBackupFullEndCheckpointsEarlyAndLoseNothing) {
  DiskBackupPolicy backups;
  backups.backup_dir = backup_dir_;
  backups.max_file_size_bytes = 64 * 1024;  // ~1000 messages a file.
  backups.max_file_count = 2;
  auto stream = Builder().Backups(backups).CheckpointInterval(absl::Hours(1)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 20000);
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  ExpectNothingLost(20000);
  const SiftStreamMetrics m = (*stream)->Metrics();
  EXPECT_GE(m.checkpoints_ok + m.checkpoints_failed, 3u);  // Not just the final one.
  EXPECT_GE(m.backup_rotations, 3u);
  EXPECT_EQ(CountFiles(backup_dir_), 0);
}

TEST_F(SiftStreamTest, NonRetryableRefusalKeepsDataOnDiskAndFinishSaysSo) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  FaultPlan plan;
  plan.reject_all_code = grpc::StatusCode::PERMISSION_DENIED;
  sift_->SetFaults(plan);
  SendAll(**stream, 1, 2000);
  absl::Status finished = (*stream)->Finish(absl::Seconds(10));
  ASSERT_FALSE(finished.ok());
  EXPECT_NE(finished.message().find(".pbfs"), absl::string_view::npos) << finished;
  EXPECT_GE((*stream)->Metrics().errors, 1u);
  EXPECT_GE(CountFiles(backup_dir_), 1);
}

TEST_F(SiftStreamTest, FullSendQueueRefusesWithResourceExhaustedAndLosesNothingTaken) {
  auto stream = Builder().DataCapacity(16).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  int64_t accepted = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    absl::Status s = (*stream)->Send("f", absl::FromUnixMicros(1764000000000000 + i),
                                     {ChannelValue::Double(i), ChannelValue::Double(i)});
    if (s.ok()) {
      ++accepted;
    } else {
      ASSERT_TRUE(absl::IsResourceExhausted(s)) << s;
      ++refused;
    }
  }
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  EXPECT_GT(refused, 0) << "a 16-message queue never filled";
  EXPECT_EQ((*stream)->Metrics().messages_refused, static_cast<uint64_t>(refused));
  ExpectNothingLost(accepted);
}

TEST_F(SiftStreamTest, CheckpointWhoseFinishFailsIsReingested) {
  FaultPlan plan;
  plan.fail_at_end = {1, false};
  plan.fail_at_end_code = grpc::StatusCode::INTERNAL;
  sift_->SetFaults(plan);
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 10000);
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  ExpectNothingLost(10000);
  EXPECT_GE((*stream)->Metrics().checkpoints_failed, 1u);
  EXPECT_GE((*stream)->Metrics().reingest_jobs_done, 1u);
}

TEST_F(SiftStreamTest, AcknowledgementThatHangsPastTheTimeoutIsReingested) {
  FaultPlan plan;
  plan.hang_at_end = {1, false};
  plan.hang_at_end_for = absl::Seconds(20);
  sift_->SetFaults(plan);
  auto stream = Builder().AckTimeout(absl::Milliseconds(300)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 5000);
  const absl::Time start = absl::Now();
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // Not the server's 20 s hang.
  ExpectNothingLost(5000);
  EXPECT_GE((*stream)->Metrics().ack_timeouts, 1u);
}

TEST_F(SiftStreamTest, SlowServerFillsTheLiveQueueAndDroppedMessagesComeBackFromDisk) {
  FaultPlan plan;
  plan.slow_reader_every = 500;
  plan.slow_reader_sleep = absl::Milliseconds(20);
  sift_->SetFaults(plan);
  auto stream = Builder().DataCapacity(1000).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 2, 20000);
  sift_->SetFaults(FaultPlan());  // Let re-ingestion finish quickly.
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(60)).ok());
  EXPECT_GT((*stream)->Metrics().messages_dropped_live, 0u);
  ExpectNothingLost(20000);
}

// A checkpoint whose stream Sift acknowledged fails only for what the full live queue dropped:
// only those messages are re-ingested, and nothing reaches Sift twice.
TEST_F(SiftStreamTest, OnlyMessagesDroppedFromTheLiveQueueAreReingested) {
  FaultPlan plan;
  plan.slow_reader_every = 500;
  plan.slow_reader_sleep = absl::Milliseconds(20);
  sift_->SetFaults(plan);
  auto stream = Builder().DataCapacity(1000).AckTimeout(absl::Seconds(30)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 2, 20000);
  sift_->SetFaults(FaultPlan());
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(60)).ok());
  const SiftStreamMetrics m = (*stream)->Metrics();
  ASSERT_EQ(m.live_streams_failed, 0u) << "a failed stream re-ingests its checkpoint whole";
  EXPECT_GT(m.messages_dropped_live, 0u);
  EXPECT_EQ(m.messages_reingested, m.messages_dropped_live);
  EXPECT_EQ(sift_->Stats().ingest.committed_duplicates, 0);
  EXPECT_EQ(sift_->Stats().ingest.duplicate_messages, 0);
  ExpectNothingLost(20000);
}

// Without backups a full live queue must push back on Send, not drop what Send accepted.
TEST_F(SiftStreamTest, LiveOnlyStreamPushesBackInsteadOfDroppingWhenSiftIsSlow) {
  FaultPlan plan;
  plan.slow_reader_every = 500;
  plan.slow_reader_sleep = absl::Milliseconds(20);
  sift_->SetFaults(plan);
  auto stream = Builder().Mode(StreamMode::kLiveOnly).DataCapacity(1000).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 2, 20000);
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(60)).ok());
  const SiftStreamMetrics m = (*stream)->Metrics();
  EXPECT_EQ(m.messages_dropped_live, 0u);
  EXPECT_GT(m.messages_refused, 0u) << "Sift was never slow enough to push back";
  ExpectNothingLost(20000);
}

// Counts the messages in the stream's backup files (every file must be readable).
int64_t CleanMessagesOnDisk(const std::string& dir) {
  int64_t messages = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (!absl::EndsWith(e->d_name, ".pbfs")) continue;
      auto contents = io::ReadPbfsFile(absl::StrCat(dir, "/", e->d_name), io::PbfsReadMode::kStrict);
      EXPECT_TRUE(contents.ok()) << contents.status();
      if (contents.ok()) messages += static_cast<int64_t>(contents->messages.size());
    }
    closedir(d);
  }
  return messages;
}

TEST_F(SiftStreamTest, FinishDeadlineWithAHangingServerKeepsEveryMessageOnDisk) {
  FaultPlan plan;
  plan.hang_at_end = {1, true};  // Every stream: no acknowledgement for 30 s.
  plan.hang_at_end_for = absl::Seconds(30);
  sift_->SetFaults(plan);
  DiskBackupPolicy backups;
  backups.backup_dir = backup_dir_;
  backups.retain_backups = true;  // So the disk holds every message, acknowledged or not.
  auto stream = Builder().Backups(backups).AckTimeout(absl::Seconds(20)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 2, 20000);
  const absl::Time start = absl::Now();
  absl::Status finished = (*stream)->Finish(absl::Milliseconds(500));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "the abort did not cancel the streams";
  EXPECT_FALSE(finished.ok());
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 0);
  EXPECT_EQ(CleanMessagesOnDisk(backup_dir_), 20000);
}

// Finish's deadline holds while the live stream waits out a retry backoff far longer than
// the deadline (it used to wait the backoff out, whatever the timeout said).
TEST_F(SiftStreamTest, FinishDeadlineCutsALongRetryBackoffShort) {
  sift_->RefuseStreamsFor(absl::Seconds(60));
  RetryPolicy slow;
  slow.initial_backoff = absl::Seconds(30);
  slow.max_backoff = absl::Seconds(30);
  auto stream = Builder().LiveRetry(slow).ReingestRetry(slow).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 2000);
  // Wait until the refused stream has put the live path into its backoff.
  const absl::Time wait_until = absl::Now() + absl::Seconds(10);
  while ((*stream)->Metrics().retries == 0 && absl::Now() < wait_until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GT((*stream)->Metrics().retries, 0u) << "the live stream never backed off";
  const absl::Time start = absl::Now();
  const absl::Status finished = (*stream)->Finish(absl::Seconds(1));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "Finish waited out the 30 s backoff";
  EXPECT_TRUE(absl::IsUnavailable(finished)) << finished;
  EXPECT_EQ(CleanMessagesOnDisk(backup_dir_), 2000) << "what Sift did not take must stay on disk";
}

TEST_F(SiftStreamTest, FullBackupDiskPushesBackSayingSoAndFinishNeverClaimsWhatItCannotProve) {
  const std::string small = backup_dir_ + "/small";
  mkdir(small.c_str(), 0700);
  if (mount("tmpfs", small.c_str(), "tmpfs", 0, "size=512k") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs here: " << strerror(errno);
  }
  DiskBackupPolicy backups;
  backups.backup_dir = small;
  backups.retain_backups = true;  // Fill the disk for sure.
  auto stream = Builder().Backups(backups).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  int accepted = 0;
  absl::Status refused;
  for (int i = 0; i < 100000; ++i) {
    absl::Status s = (*stream)->Send("f", absl::FromUnixMicros(1764000000000000 + i),
                                     {ChannelValue::Double(i), ChannelValue::Double(i)});
    if (s.ok()) {
      ++accepted;
      continue;
    }
    refused = s;
    if (absl::StrContains(s.message(), "backup disk is full")) break;
    ASSERT_TRUE(absl::IsResourceExhausted(s)) << s;
    absl::SleepFor(absl::Microseconds(100));
  }
  ASSERT_TRUE(absl::StrContains(refused.message(), "backup disk is full"))
      << "100k messages fit in 512 KiB? " << refused;
  EXPECT_TRUE(absl::IsResourceExhausted(refused)) << "retryable: " << refused;
  EXPECT_TRUE((*stream)->Metrics().backup_disk_full);
  // The disk stays full past the deadline: what waits in memory cannot be protected.
  absl::Status finished = (*stream)->Finish(absl::Seconds(2));
  if (finished.ok()) {
    ExpectNothingLost(accepted);  // Everything was acknowledged live.
  } else {
    EXPECT_TRUE(absl::IsDataLoss(finished) || absl::IsUnavailable(finished)) << finished;
  }
  stream->reset();
  umount2(small.c_str(), MNT_DETACH);
}

TEST_F(SiftStreamTest, MissingBackupDirectoryFailsBuildSayingWhatToDo) {
  backup_dir_ += "/missing";
  auto stream = Builder().Build();
  ASSERT_FALSE(stream.ok());
  EXPECT_TRUE(absl::IsNotFound(stream.status())) << stream.status();
}

}  // namespace
}  // namespace sift_stream
