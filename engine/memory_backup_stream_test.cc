// Memory backups end to end (StreamMode::kLiveWithMemoryBackups): a real stream against the
// fake Sift server with faults injected, checking what Sift committed and what the API said.

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "engine/sift_stream_test_fixture.h"
#include "gtest/gtest.h"
#include "testing/fake_sift.h"

namespace sift_stream {
namespace {

class MemoryBackupStreamTest : public SiftStreamTest {
 protected:
  // Memory backups; no disk is written (the fixture's backup_dir stays empty, and is checked).
  SiftStreamBuilder MemoryBuilder(MemoryBackupPolicy policy = MemoryBackupPolicy()) {
    SiftStreamBuilder builder = Builder();
    builder.Mode(StreamMode::kLiveWithMemoryBackups).MemoryBackups(policy).MaxMessageBytes(1024);
    return builder;
  }

  static absl::Status SendOne(SiftStream& stream, int i) {
    return stream.Send("f", absl::FromUnixMicros(1764000000000000 + i),
                       {ChannelValue::Double(i), ChannelValue::Double(-i)});
  }

  // Sends messages first..first+count-1, retrying while the stream refuses for want of room.
  static void SendRetrying(SiftStream& stream, int first, int count) {
    for (int i = first; i < first + count; ++i) {
      absl::Status s;
      while (absl::IsResourceExhausted(s = SendOne(stream, i))) {
        absl::SleepFor(absl::Milliseconds(1));
      }
      ASSERT_TRUE(s.ok()) << s;
    }
  }
};

TEST_F(MemoryBackupStreamTest, CheckpointWhoseStreamIsCutIsReingestedFromMemory) {
  FaultPlan plan;
  plan.end_stream = {1, false};  // The first live stream is cut part way.
  plan.end_stream_after_messages = 100;
  sift_->SetFaults(plan);
  auto stream = MemoryBuilder().CheckpointInterval(absl::Seconds(1)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  constexpr int kCount = 3000;
  SendRetrying(**stream, 0, kCount);
  const absl::Status finished = (*stream)->Finish(absl::Seconds(30));
  EXPECT_TRUE(finished.ok()) << finished;
  ExpectNothingLost(kCount);
  const SiftStreamMetrics m = (*stream)->Metrics();
  EXPECT_GE(m.checkpoints_failed, 1u);
  EXPECT_GE(m.reingest_jobs_done, 1u);
  EXPECT_GE(m.messages_reingested, 100u) << "the cut checkpoint came back from memory";
  EXPECT_EQ(m.memory_backup_bytes, 0u);
  EXPECT_EQ(m.memory_backup_messages_lost, 0u);
  EXPECT_EQ(CountFiles(backup_dir_), 0) << "memory backups never touch the disk";
}

TEST_F(MemoryBackupStreamTest, MessagesDroppedFromTheFullLiveQueueComeBackFromMemory) {
  FaultPlan plan;
  plan.slow_reader_every = 500;  // Sift reads slowly: the live queue overflows.
  plan.slow_reader_sleep = absl::Milliseconds(20);
  sift_->SetFaults(plan);
  // A long acknowledgement bound: no live stream fails, so only drops are re-ingested.
  auto stream = MemoryBuilder().DataCapacity(1000).AckTimeout(absl::Seconds(30)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  constexpr int kCount = 20000;
  SendAll(**stream, 2, kCount);
  sift_->SetFaults(FaultPlan());  // Re-ingestion at full speed.
  const absl::Status finished = (*stream)->Finish(absl::Seconds(60));
  EXPECT_TRUE(finished.ok()) << finished;
  ExpectNothingLost(kCount);
  const SiftStreamMetrics m = (*stream)->Metrics();
  EXPECT_GT(m.messages_dropped_live, 0u) << "the live queue never overflowed: test is void";
  EXPECT_GT(m.messages_reingested, 0u);
  EXPECT_EQ(m.memory_backup_bytes, 0u);
  // Only what was dropped is re-sent: a failed stream would re-send its checkpoint whole.
  ASSERT_EQ(m.live_streams_failed, 0u);
  EXPECT_EQ(m.messages_reingested, m.messages_dropped_live);
  EXPECT_EQ(sift_->Stats().ingest.committed_duplicates, 0);
}

TEST_F(MemoryBackupStreamTest, OutageLongerThanTheRingFillsItSendSaysSoAndAllAcceptedIsCommitted) {
  FaultPlan plan;
  plan.refuse_streams_until = absl::Now() + absl::Seconds(3);
  sift_->SetFaults(plan);
  MemoryBackupPolicy policy;
  policy.max_bytes = 32 << 10;  // A few hundred messages.
  auto stream = MemoryBuilder(policy).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  int accepted = 0;
  absl::Status refused;
  while ((refused = SendOne(**stream, accepted)).ok()) {
    ++accepted;
    ASSERT_LT(accepted, 100000) << "the ring never filled";
  }
  EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "memory backup is full")) << refused;
  EXPECT_TRUE((*stream)->Metrics().memory_backup_full);
  EXPECT_GE((*stream)->Metrics().memory_backup_full_stalls, 1u);
  EXPECT_GE((*stream)->Metrics().messages_refused, 1u);
  EXPECT_LT(absl::Now(), plan.refuse_streams_until) << "the outage ended before the ring filled";
  // More than the ring holds again: these wait for Sift to come back and free room.
  constexpr int kMore = 2000;
  SendRetrying(**stream, accepted, kMore);
  const absl::Status finished = (*stream)->Finish(absl::Seconds(30));
  EXPECT_TRUE(finished.ok()) << finished;
  ExpectNothingLost(accepted + kMore);
  const SiftStreamMetrics m = (*stream)->Metrics();
  EXPECT_FALSE(m.memory_backup_full);
  EXPECT_EQ(m.memory_backup_bytes, 0u);
  EXPECT_EQ(m.memory_backup_messages_lost, 0u);
}

TEST_F(MemoryBackupStreamTest, AcknowledgedCheckpointsFreeTheirMemory) {
  // One checkpoint until Flush ends it, so that the messages are all held first.
  auto stream = MemoryBuilder().CheckpointInterval(absl::Hours(1)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  constexpr int kCount = 2000;
  SendRetrying(**stream, 0, kCount);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*stream)->Metrics().memory_backup_messages < kCount && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  SiftStreamMetrics m = (*stream)->Metrics();
  EXPECT_EQ(m.memory_backup_messages, static_cast<uint64_t>(kCount));
  EXPECT_GT(m.memory_backup_bytes, static_cast<uint64_t>(kCount) * 20);
  // Flush waits for Sift's acknowledgement: nothing in memory is durable.
  const absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
  ASSERT_TRUE(flushed.ok()) << flushed;
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, kCount);
  m = (*stream)->Metrics();
  EXPECT_EQ(m.memory_backup_bytes, 0u);
  EXPECT_EQ(m.memory_backup_messages, 0u);
  EXPECT_EQ(m.messages_backed_up, static_cast<uint64_t>(kCount));
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
}

TEST_F(MemoryBackupStreamTest, FinishWithTheServerGoneSaysDataLossWithTheCount) {
  auto stream = MemoryBuilder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendRetrying(**stream, 0, 100);
  const absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
  ASSERT_TRUE(flushed.ok()) << flushed;  // These 100 are Sift's: not lost.
  sift_->Shutdown(absl::ZeroDuration());
  constexpr int kUnacknowledged = 300;
  SendRetrying(**stream, 100, kUnacknowledged);
  const absl::Status finished = (*stream)->Finish(absl::Seconds(2));
  EXPECT_TRUE(absl::IsDataLoss(finished)) << finished;
  EXPECT_TRUE(absl::StartsWith(finished.message(), absl::StrCat(kUnacknowledged, " message(s)")))
      << finished;
  EXPECT_EQ((*stream)->Metrics().memory_backup_messages_lost, uint64_t{kUnacknowledged});
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 100);
}

TEST_F(MemoryBackupStreamTest, ReingestionGivingUpMakesFlushAndFinishSayDataLoss) {
  FaultPlan plan;
  plan.refuse_streams_until = absl::Now() + absl::Hours(1);  // Set-up calls still work.
  sift_->SetFaults(plan);
  RetryPolicy retry;
  retry.initial_backoff = absl::Milliseconds(10);
  retry.max_attempts = 2;
  auto stream = MemoryBuilder().ReingestRetry(retry).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  constexpr int kCount = 50;
  SendRetrying(**stream, 0, kCount);
  const absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
  EXPECT_TRUE(absl::IsDataLoss(flushed)) << flushed;
  EXPECT_TRUE(absl::StrContains(flushed.message(), "re-ingestion gave up")) << flushed;
  const absl::Status finished = (*stream)->Finish(absl::Seconds(2));
  EXPECT_TRUE(absl::IsDataLoss(finished)) << finished;
  EXPECT_TRUE(absl::StartsWith(finished.message(), absl::StrCat(kCount, " message(s)")))
      << finished;
  const SiftStreamMetrics m = (*stream)->Metrics();
  EXPECT_EQ(m.memory_backup_messages_lost, uint64_t{kCount});
  EXPECT_GE(m.reingest_jobs_failed, 1u);
  EXPECT_EQ(m.memory_backup_bytes, 0u);
}

TEST_F(MemoryBackupStreamTest, BuildRefusesARingTooSmallForTheLargestMessage) {
  MemoryBackupPolicy policy;
  policy.max_bytes = 1024;
  auto stream = MemoryBuilder(policy).Build();
  EXPECT_TRUE(absl::IsInvalidArgument(stream.status())) << stream.status();
  auto wrong_mode = Builder().MemoryBackups(MemoryBackupPolicy()).Build();
  EXPECT_TRUE(absl::IsInvalidArgument(wrong_mode.status())) << wrong_mode.status();
  // NoRetries leaves failed checkpoints in files for the caller; memory has no files.
  auto no_retries = MemoryBuilder().NoRetries().Build();
  EXPECT_TRUE(absl::IsInvalidArgument(no_retries.status())) << no_retries.status();
  EXPECT_TRUE(absl::StrContains(no_retries.status().message(), "NoRetries"));
}

}  // namespace
}  // namespace sift_stream
