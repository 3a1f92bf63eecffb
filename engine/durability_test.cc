// Durability end to end: Flush() and the sync policies, and messages at the edges of what
// Send() takes. The directory lock and start-up recovery: recovery_test.cc.

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "engine/sift_stream_test_fixture.h"
#include "gtest/gtest.h"

namespace sift_stream {
namespace {

using DurabilityTest = SiftStreamTest;

TEST_F(DurabilityTest, FlushMakesEveryEarlierMessageDurableOnDisk) {
  auto stream = Builder().Mode(StreamMode::kBackupsOnly).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendRange(**stream, 0, 5000);
  ASSERT_TRUE((*stream)->Flush(absl::Seconds(10)).ok());
  EXPECT_GE((*stream)->Metrics().messages_durable, 5000u);
  // Durable means on disk now, readable by recovery, before the stream finishes.
  EXPECT_GE(MessagesOnDisk(backup_dir_), 5000);
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
}

TEST_F(DurabilityTest, FlushAfterFinishIsAnsweredAtOnce) {
  auto stream = Builder().Mode(StreamMode::kBackupsOnly).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendRange(**stream, 0, 100);
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
  const absl::Time start = absl::Now();
  EXPECT_TRUE((*stream)->Flush(absl::InfiniteDuration()).ok());  // Closed files are durable.
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST_F(DurabilityTest, SyncPolicyHoldsWhicheverOrderTheBuilderIsCalledIn) {
  DiskBackupPolicy backups;
  backups.backup_dir = backup_dir_;
  auto stream = Builder().Sync(SyncPolicy::Every(absl::Milliseconds(10))).Backups(backups)
                    .Mode(StreamMode::kBackupsOnly).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendRange(**stream, 0, 100);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*stream)->Metrics().messages_durable < 100 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ((*stream)->Metrics().messages_durable, 100u) << "the interval policy was lost";
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
}

TEST_F(DurabilityTest, FlushUnderContinuousSendingIsAnsweredEveryTime) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::thread producer([&] {
    for (int i = 0; !stop.load(); ++i) {
      SendRange(**stream, i, i + 1);
      sent.store(i + 1);
    }
  });
  for (int round = 0; round < 20; ++round) {
    absl::SleepFor(absl::Milliseconds(10));
    const int before = sent.load();
    absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
    ASSERT_TRUE(flushed.ok()) << "round " << round << ": " << flushed;
    EXPECT_GE((*stream)->Metrics().messages_durable, static_cast<uint64_t>(before));
  }
  stop = true;
  producer.join();
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  ExpectNothingLost(sent.load());
}

TEST_F(DurabilityTest, EverySyncPolicyMakesDataDurableWithoutFlush) {
  for (SyncPolicy policy : {SyncPolicy::Every(absl::Milliseconds(20)),
                            SyncPolicy::EveryBytes(4096), SyncPolicy::Never()}) {
    SCOPED_TRACE(engine::SyncPolicyName(policy.kind));
    auto stream = Builder().Mode(StreamMode::kBackupsOnly).Sync(policy).Build();
    ASSERT_TRUE(stream.ok()) << stream.status();
    SendRange(**stream, 0, 3000);
    if (policy.kind == SyncPolicy::Kind::kNever) {
      // Nothing syncs by itself; Flush still confirms the writes.
      ASSERT_TRUE((*stream)->Flush(absl::Seconds(10)).ok());
      EXPECT_GE((*stream)->Metrics().messages_durable, 3000u);
    } else {
      // The interval policy syncs the whole open chunk; the bytes policy syncs what went out.
      const uint64_t want = policy.kind == SyncPolicy::Kind::kInterval ? 3000 : 1;
      const absl::Time deadline = absl::Now() + absl::Seconds(10);
      while ((*stream)->Metrics().messages_durable < want && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      EXPECT_GE((*stream)->Metrics().messages_durable, want);
    }
    EXPECT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
    EXPECT_EQ(MessagesOnDisk(backup_dir_), 3000);
    RemoveBackupFiles(backup_dir_);
  }
}

TEST_F(DurabilityTest, LiveOnlyFlushWaitsForSiftsAcknowledgement) {
  auto stream = Builder().Mode(StreamMode::kLiveOnly)
                    .CheckpointInterval(absl::Hours(1)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendRange(**stream, 0, 2000);
  absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
  ASSERT_TRUE(flushed.ok()) << flushed;
  // No timer ended the checkpoint: Flush did, and Sift committed everything before it.
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 2000);
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
}

TEST_F(DurabilityTest, LiveOnlyFlushAfterAFailedCheckpointReportsDataLoss) {
  FaultPlan plan;
  plan.fail_at_end.nth = 1;  // Every stream fails at its end: nothing is acknowledged.
  plan.fail_at_end.every = true;
  sift_->SetFaults(plan);
  auto stream = Builder().Mode(StreamMode::kLiveOnly)
                    .CheckpointInterval(absl::Hours(1)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendRange(**stream, 0, 100);
  absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
  EXPECT_TRUE(absl::IsDataLoss(flushed)) << flushed;
  EXPECT_TRUE(absl::StrContains(flushed.message(), "live-only")) << flushed;
  (void)(*stream)->Finish(absl::Seconds(5));
}

TEST_F(DurabilityTest, MessageOverTheSizeLimitIsRefusedAndTheStreamGoesOn) {
  IngestionConfigSpec config;
  config.asset_name = "rig";
  config.client_key = "rig-text";
  sift::ingestion_configs::v2::FlowConfig flow;
  flow.set_name("log");
  auto* channel = flow.add_channels();
  channel->set_name("line");
  channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_STRING);
  config.flows = {flow};
  auto stream = Builder().IngestionConfig(config).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  const absl::Time t = absl::FromUnixMicros(1764000000000000);
  absl::Status huge = (*stream)->Send("log", t, {ChannelValue::String(std::string(5 << 20, 'x'))});
  EXPECT_TRUE(absl::IsInvalidArgument(huge)) << huge;
  EXPECT_TRUE(absl::StrContains(huge.message(), "limit")) << huge;
  // Empty strings and large-but-legal ones stream normally.
  EXPECT_TRUE((*stream)->Send("log", t, {ChannelValue::String("")}).ok());
  EXPECT_TRUE((*stream)->Send("log", t + absl::Microseconds(1),
                              {ChannelValue::String(std::string(3 << 20, 'y'))}).ok());
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 2);
}

TEST_F(DurabilityTest, NanAndInfinityAreLegalDoublesAndArrive) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  const double specials[] = {std::nan(""), std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity(), -0.0,
                             std::numeric_limits<double>::denorm_min()};
  int i = 0;
  for (double v : specials) {
    absl::Status s = (*stream)->Send("f", absl::FromUnixMicros(1764000000000000 + i++),
                                     {ChannelValue::Double(v), ChannelValue::Double(v)});
    EXPECT_TRUE(s.ok()) << v << ": " << s;
  }
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  ExpectNothingLost(5);
}

TEST_F(DurabilityTest, BackupDirThatRefusesDirectIoFallsBackSaysSoAndLosesNothing) {
  if (mount("ramfs", backup_dir_.c_str(), "ramfs", 0, nullptr) != 0) {
    GTEST_SKIP() << "cannot mount ramfs here (needs root): " << strerror(errno);
  }
  LogCapture log;
  google::AddLogSink(&log);
  {
    auto stream = Builder().Build();
    ASSERT_TRUE(stream.ok()) << stream.status();
    SendRange(**stream, 0, 3000);
    ASSERT_TRUE((*stream)->Flush(absl::Seconds(10)).ok());
    EXPECT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
    EXPECT_GT((*stream)->Metrics().backup_files_buffered, 0u);
  }
  google::RemoveLogSink(&log);
  ExpectNothingLost(3000);
  // Said once, naming the directory and what it means.
  const std::string said = log.text();
  EXPECT_TRUE(absl::StrContains(said, absl::StrCat("backup directory ", backup_dir_,
                                                   " refuses O_DIRECT")))
      << said;
  EXPECT_TRUE(absl::StrContains(said, "buffered writes through the page cache")) << said;
  umount2(backup_dir_.c_str(), MNT_DETACH);
}

TEST_F(DurabilityTest, ApiKeyNeverAppearsInErrorsOrMetrics) {
  sift_->RefuseStreamsFor(absl::Seconds(30));
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendRange(**stream, 0, 100);
  absl::Status finished = (*stream)->Finish(absl::Seconds(1));
  EXPECT_FALSE(absl::StrContains(finished.message(), kKey)) << finished;
  EXPECT_FALSE(absl::StrContains((*stream)->Metrics().last_error, kKey));
  auto refused = Builder().ApiKey("wrong-key-123").Build();
  EXPECT_FALSE(refused.ok());
  EXPECT_FALSE(absl::StrContains(refused.status().message(), "wrong-key-123"))
      << refused.status();
}

}  // namespace
}  // namespace sift_stream
