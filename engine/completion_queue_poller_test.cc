#include "engine/completion_queue_poller.h"

#include <grpcpp/alarm.h>

#include <vector>

#include "gtest/gtest.h"

namespace sift_stream::engine {
namespace {

gpr_timespec In(absl::Duration d) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_micros(absl::ToInt64Microseconds(d), GPR_TIMESPAN));
}

class RecordingAlarm : public GrpcOperation {
 public:
  void OnComplete(bool ok) override { results.push_back(ok); }
  grpc::Alarm alarm;
  std::vector<bool> results;
};

class CompletionQueuePollerTest : public ::testing::Test {
 protected:
  // Polls until `done` or ~5 s, sleeping as the poller asks (no ring needed here).
  template <typename Done>
  void PollUntil(CompletionQueuePoller& poller, Done done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (!done() && absl::Now() < deadline) {
      poller.Poll();
      absl::SleepFor(std::min(poller.NextWait(), absl::Milliseconds(1)));
    }
    ASSERT_TRUE(done()) << "timed out";
  }
  grpc::CompletionQueue cq_;
};

TEST_F(CompletionQueuePollerTest, NothingOutstandingMeansTheReactorMayBlockIndefinitely) {
  CompletionQueuePoller poller(&cq_);
  EXPECT_EQ(poller.NextWait(), absl::InfiniteDuration());
  EXPECT_EQ(poller.Poll(), 0);
  poller.Shutdown();
}

TEST_F(CompletionQueuePollerTest, EachEventReachesTheOperationThatStartedIt) {
  CompletionQueuePoller poller(&cq_);
  RecordingAlarm a, b;
  poller.Started(a, GrpcOperation::Expect::kSoon);
  a.alarm.Set(&cq_, In(absl::ZeroDuration()), a.tag());
  poller.Started(b, GrpcOperation::Expect::kSoon);
  b.alarm.Set(&cq_, In(absl::Hours(1)), b.tag());
  b.alarm.Cancel();  // Completes at once with ok == false.
  EXPECT_EQ(poller.outstanding(), 2);
  PollUntil(poller, [&] { return poller.outstanding() == 0; });
  EXPECT_EQ(a.results, std::vector<bool>{true});
  EXPECT_EQ(b.results, std::vector<bool>{false});
  EXPECT_EQ(poller.events(), 2u);
  EXPECT_EQ(poller.NextWait(), absl::InfiniteDuration());
  poller.Shutdown();
}

TEST_F(CompletionQueuePollerTest, WaitStaysShortWhileAPromptOperationIsOutstanding) {
  CompletionQueuePoller::Options options;
  options.soon_wait = absl::Microseconds(50);
  options.max_wait = absl::Milliseconds(10);
  CompletionQueuePoller poller(&cq_, options);
  RecordingAlarm a;
  poller.Started(a, GrpcOperation::Expect::kSoon);
  a.alarm.Set(&cq_, In(absl::Hours(1)), a.tag());
  for (int i = 0; i < 20; ++i) {
    poller.Poll();
    EXPECT_EQ(poller.NextWait(), options.soon_wait);
  }
  a.alarm.Cancel();
  PollUntil(poller, [&] { return !a.results.empty(); });
  poller.Shutdown();
}

TEST_F(CompletionQueuePollerTest, WaitClimbsToItsBoundWhileOnlyFarOffOperationsAreOutstanding) {
  CompletionQueuePoller::Options options;
  options.soon_wait = absl::Microseconds(50);
  options.max_wait = absl::Milliseconds(10);
  CompletionQueuePoller poller(&cq_, options);
  RecordingAlarm far;
  poller.Started(far, GrpcOperation::Expect::kEventually);
  far.alarm.Set(&cq_, In(absl::Hours(1)), far.tag());
  std::vector<absl::Duration> waits;
  for (int i = 0; i < 12; ++i) {
    poller.Poll();
    waits.push_back(poller.NextWait());
  }
  EXPECT_EQ(waits.front(), options.soon_wait);
  for (size_t i = 1; i < waits.size(); ++i) EXPECT_GE(waits[i], waits[i - 1]);
  EXPECT_EQ(waits.back(), options.max_wait);
  // An event brings the wait back down at once.
  RecordingAlarm now;
  poller.Started(now, GrpcOperation::Expect::kEventually);
  now.alarm.Set(&cq_, In(absl::ZeroDuration()), now.tag());
  PollUntil(poller, [&] { return !now.results.empty(); });
  EXPECT_EQ(poller.NextWait(), options.soon_wait);
  far.alarm.Cancel();
  PollUntil(poller, [&] { return !far.results.empty(); });
  poller.Shutdown();
}

TEST_F(CompletionQueuePollerTest, ReclassifiedOperationMakesTheWaitShortAgain) {
  CompletionQueuePoller::Options options;
  options.soon_wait = absl::Microseconds(50);
  options.max_wait = absl::Milliseconds(10);
  CompletionQueuePoller poller(&cq_, options);
  RecordingAlarm far;
  poller.Started(far, GrpcOperation::Expect::kEventually);
  far.alarm.Set(&cq_, In(absl::Hours(1)), far.tag());
  for (int i = 0; i < 12; ++i) poller.Poll();
  ASSERT_EQ(poller.NextWait(), options.max_wait);
  // A stream's pending Read becomes the acknowledgement once WritesDone is sent.
  poller.Reclassify(far, GrpcOperation::Expect::kSoon);
  EXPECT_EQ(poller.NextWait(), options.soon_wait);
  poller.Poll();
  EXPECT_EQ(poller.NextWait(), options.soon_wait);
  far.alarm.Cancel();
  PollUntil(poller, [&] { return !far.results.empty(); });
  EXPECT_EQ(poller.outstanding(), 0);
  poller.Shutdown();
}

}  // namespace
}  // namespace sift_stream::engine
