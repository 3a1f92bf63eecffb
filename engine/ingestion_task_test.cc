#include "engine/ingestion_task.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <map>
#include <vector>

#include "engine/task_test_fixture.h"
#include "gtest/gtest.h"

namespace sift_stream::engine {
namespace {

using sift_stream::testing::FaultPlan;

class IngestionTaskTest : public TaskTest {
 protected:
  void SetUp() override {
    TaskTest::SetUp();
    bus_.Subscribe([this](const ControlMessage& m) {
      events_.push_back(std::string(ControlKindName(m.kind)) + ":" +
                        std::to_string(m.checkpoint));
    });
  }

  void TearDown() override {
    if (task_ != nullptr) {
      task_->Shutdown();
      Run([&] { return task_->quiescent(); }, absl::Seconds(20));
      task_.reset();
    }
    poller_->Shutdown();
  }

  void MakeTask(IngestionOptions options) {
    options.api_key = kKey;
    options.on_checkpoint_end = [this](uint64_t ended) { boundaries_.push_back(ended); };
    auto channel = grpc::CreateChannel(sift_->address(), grpc::InsecureChannelCredentials());
    task_ = std::make_unique<IngestionTask>(channel, &cq_, *poller_, *ring_, bus_, options);
    task_->Start();
  }

  void Enqueue(int64_t first, int64_t count) {
    for (int64_t i = first; i < first + count; ++i) task_->Enqueue(Message(i));
  }

  template <typename Done>
  void Run(Done done, absl::Duration timeout) {
    RunLoop(*task_, done, timeout, [&] { return IngestionStateName(task_->state()); });
  }

  bool Has(const std::string& event) const {
    return std::find(events_.begin(), events_.end(), event) != events_.end();
  }

  std::unique_ptr<IngestionTask> task_;
  std::vector<std::string> events_;
  std::vector<uint64_t> boundaries_;
};

TEST_F(IngestionTaskTest, CheckpointsThatSiftAcknowledgesCompleteAndEveryMessageIsCommitted) {
  MakeTask({});
  for (int checkpoint = 0; checkpoint < 3; ++checkpoint) {
    Enqueue(checkpoint * 10000, 10000);
    task_->EndCheckpoint();
    Run([&] { return Has("CheckpointComplete:" + std::to_string(checkpoint + 1)); },
        absl::Seconds(20));
  }
  EXPECT_EQ(events_, (std::vector<std::string>{"CheckpointComplete:1", "CheckpointComplete:2",
                                               "CheckpointComplete:3"}));
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 30000);
  EXPECT_EQ(sift_->Stats().ingest.streams_completed, 3);
  EXPECT_EQ(task_->metrics().messages_acknowledged, 30000u);
  EXPECT_EQ(task_->metrics().checkpoints_ok, 3u);
  EXPECT_EQ(boundaries_, (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(IngestionTaskTest, StreamCutMidCheckpointMarksItForReingestionAndTheNextOneStillWorks) {
  FaultPlan plan;
  plan.end_stream = {1, false};
  plan.end_stream_after_messages = 100;
  sift_->SetFaults(plan);
  IngestionOptions options;
  options.retry.initial_backoff = absl::Milliseconds(10);
  MakeTask(options);
  Enqueue(0, 1000);
  Run([&] { return Has("CheckpointComplete:1"); }, absl::Seconds(20));
  EXPECT_TRUE(Has("CheckpointNeedsReingestion:1"));
  EXPECT_EQ(boundaries_, (std::vector<uint64_t>{1}));  // The failure ended checkpoint 1.
  Enqueue(1000, 500);
  task_->EndCheckpoint();
  Run([&] { return Has("CheckpointComplete:2"); }, absl::Seconds(20));
  EXPECT_FALSE(Has("CheckpointNeedsReingestion:2"));
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 500);  // Checkpoint 1 is for the disk.
  EXPECT_EQ(task_->metrics().streams_failed, 1u);
  EXPECT_EQ(task_->metrics().retries, 1u);
}

TEST_F(IngestionTaskTest, AckThatHangsPastTheTimeoutFailsTheCheckpoint) {
  FaultPlan plan;
  plan.hang_at_end = {1, false};
  plan.hang_at_end_for = absl::Seconds(10);
  sift_->SetFaults(plan);
  IngestionOptions options;
  options.ack_timeout = absl::Milliseconds(200);
  MakeTask(options);
  Enqueue(0, 100);
  task_->EndCheckpoint();
  const absl::Time start = absl::Now();
  Run([&] { return Has("CheckpointComplete:1"); }, absl::Seconds(5));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_TRUE(Has("CheckpointNeedsReingestion:1"));
  EXPECT_EQ(task_->metrics().ack_timeouts, 1u);
}

TEST_F(IngestionTaskTest, StreamWhoseWritesStallIsCancelledBeforeItsCheckpointEnds) {
  FaultPlan plan;
  plan.slow_reader_every = 1;  // Sift reads one message, then stops reading for 30 s.
  plan.slow_reader_sleep = absl::Seconds(30);
  sift_->SetFaults(plan);
  IngestionOptions options;
  options.ack_timeout = absl::Milliseconds(300);
  options.live_capacity = 1000000;
  MakeTask(options);
  Enqueue(0, 100000);  // Megabytes: far more than HTTP/2 lets through unread.
  const absl::Time start = absl::Now();
  Run([&] { return Has("CheckpointComplete:1"); }, absl::Seconds(10));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(Has("CheckpointNeedsReingestion:1"));
  EXPECT_EQ(task_->metrics().ack_timeouts, 1u);
  sift_->SetFaults(FaultPlan());
}

TEST_F(IngestionTaskTest, IdleOpenStreamIsNotCancelled) {
  IngestionOptions options;
  options.ack_timeout = absl::Milliseconds(100);
  MakeTask(options);
  Enqueue(0, 10);
  Run([&] { return task_->metrics().messages_written == 10; }, absl::Seconds(5));
  const absl::Time until = absl::Now() + absl::Milliseconds(500);  // 5 watchdog periods idle.
  Run([&] { return absl::Now() > until; }, absl::Seconds(5));
  EXPECT_EQ(task_->metrics().ack_timeouts, 0u);
  EXPECT_EQ(task_->state(), IngestionTask::State::kStreaming);
  task_->EndCheckpoint();
  Run([&] { return Has("CheckpointComplete:1"); }, absl::Seconds(5));
  EXPECT_FALSE(Has("CheckpointNeedsReingestion:1"));
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 10);
}

TEST_F(IngestionTaskTest, FullLiveQueueDropsTheOldestAndMarksTheirCheckpoint) {
  IngestionOptions options;
  options.live_capacity = 100;
  MakeTask(options);
  Enqueue(0, 1000);  // Before the reactor runs: 900 must be dropped.
  task_->EndCheckpoint();
  Run([&] { return Has("CheckpointComplete:1"); }, absl::Seconds(20));
  EXPECT_EQ(task_->metrics().dropped_live, 900u);
  EXPECT_TRUE(Has("CheckpointNeedsReingestion:1"));
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 100);  // The newest 100 went live.
}

TEST_F(IngestionTaskTest, OutageFailsStreamsUntilItEndsWithBackoffBetweenAttempts) {
  sift_->RefuseStreamsFor(absl::Milliseconds(400));
  IngestionOptions options;
  options.retry.initial_backoff = absl::Milliseconds(50);
  options.retry.max_backoff = absl::Milliseconds(100);
  MakeTask(options);
  int64_t next = 0;
  for (int i = 0; i < 6; ++i) {
    Enqueue(next, 10);
    next += 10;
    task_->EndCheckpoint();
    Run([&] { return Has("CheckpointComplete:" + std::to_string(i + 1)); }, absl::Seconds(10));
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(Has("CheckpointNeedsReingestion:1"));
  EXPECT_FALSE(Has("CheckpointNeedsReingestion:6"));
  EXPECT_GE(task_->metrics().retries, 1u);
  EXPECT_GT(sift_->Stats().ingest.committed_messages, 0);
}

TEST_F(IngestionTaskTest, NonRetryableRefusalStopsTheLivePathAndSignalsAnError) {
  FaultPlan plan;
  plan.reject_all_code = grpc::StatusCode::PERMISSION_DENIED;
  sift_->SetFaults(plan);
  MakeTask({});
  Enqueue(0, 10);
  Run([&] { return Has("ErrorSignal:0"); }, absl::Seconds(10));
  EXPECT_EQ(task_->state(), IngestionTask::State::kStopped);
  Enqueue(10, 10);  // Later data is for the disk only.
  task_->EndCheckpoint();
  Run([&] { return Has("CheckpointComplete:2"); }, absl::Seconds(10));
  EXPECT_TRUE(Has("CheckpointNeedsReingestion:1"));
  EXPECT_TRUE(Has("CheckpointNeedsReingestion:2"));
  EXPECT_EQ(task_->metrics().streams_started, 1u);  // No retries.
}

TEST_F(IngestionTaskTest, CheckpointTimerEndsCheckpointsByItself) {
  IngestionOptions options;
  options.checkpoint_interval = absl::Milliseconds(100);
  MakeTask(options);
  Enqueue(0, 50);
  Run([&] { return Has("CheckpointComplete:1"); }, absl::Seconds(5));
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 50);
}

TEST_F(IngestionTaskTest, CheckpointsWithoutMessagesCompleteWithoutAStream) {
  MakeTask({});
  task_->EndCheckpoint();
  task_->EndCheckpoint();
  Run([&] { return Has("CheckpointComplete:2"); }, absl::Seconds(5));
  EXPECT_EQ(task_->metrics().streams_started, 0u);
}

}  // namespace
}  // namespace sift_stream::engine
