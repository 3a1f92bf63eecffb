#include "testing/fault_plan.h"

#include <vector>

#include "gtest/gtest.h"

namespace sift_stream::testing {
namespace {

TEST(StreamSelectorTest, NthMatchesOnceEveryNthMatchesMultiples) {
  StreamSelector third{3, false};
  StreamSelector every_third{3, true};
  StreamSelector off{};
  for (int64_t i = 1; i <= 9; ++i) {
    EXPECT_EQ(third.Matches(i), i == 3) << i;
    EXPECT_EQ(every_third.Matches(i), i % 3 == 0) << i;
    EXPECT_FALSE(off.Matches(i));
  }
}

TEST(FaultControllerTest, EndStreamHitsOnlyTheSelectedStreams) {
  FaultController controller;
  FaultPlan plan;
  plan.end_stream = {2, true};
  plan.end_stream_after_messages = 5;
  plan.end_stream_code = grpc::StatusCode::ABORTED;
  controller.Set(plan);
  for (int64_t i = 1; i <= 4; ++i) {
    StreamFaults faults = controller.BeginStream();
    EXPECT_EQ(faults.stream_index, i);
    EXPECT_FALSE(faults.refuse.has_value());
    if (i % 2 == 0) {
      ASSERT_TRUE(faults.end_after_messages.has_value());
      EXPECT_EQ(*faults.end_after_messages, 5);
      EXPECT_EQ(faults.end_status.error_code(), grpc::StatusCode::ABORTED);
    } else {
      EXPECT_FALSE(faults.end_after_messages.has_value());
    }
  }
}

TEST(FaultControllerTest, OutageRefusesStreamsUntilItEnds) {
  FaultController controller;
  FaultPlan plan;
  plan.refuse_streams_until = absl::Now() + absl::Milliseconds(50);
  controller.Set(plan);
  StreamFaults during = controller.BeginStream();
  ASSERT_TRUE(during.refuse.has_value());
  EXPECT_EQ(during.refuse->error_code(), grpc::StatusCode::UNAVAILABLE);
  absl::SleepFor(absl::Milliseconds(60));
  EXPECT_FALSE(controller.BeginStream().refuse.has_value());
}

TEST(FaultControllerTest, RejectAllRefusesStreamsAndUnaryCalls) {
  FaultController controller;
  FaultPlan plan;
  plan.reject_all_code = grpc::StatusCode::PERMISSION_DENIED;
  controller.Set(plan);
  EXPECT_EQ(controller.BeginStream().refuse->error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(controller.CheckUnary().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST(FaultControllerTest, UnaryFailuresCountDownThenSucceed) {
  FaultController controller;
  FaultPlan plan;
  plan.fail_unary_count = 2;
  plan.fail_unary_code = grpc::StatusCode::INTERNAL;
  controller.Set(plan);
  EXPECT_EQ(controller.CheckUnary().error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(controller.CheckUnary().error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_TRUE(controller.CheckUnary().ok());
  EXPECT_EQ(controller.Get().fail_unary_count, 0);
}

std::vector<int64_t> RandomlyFailedStreams(uint64_t seed) {
  FaultController controller;
  FaultPlan plan;
  plan.seed = seed;
  plan.stream_failure_probability = 0.3;
  controller.Set(plan);
  std::vector<int64_t> failed;
  for (int i = 0; i < 200; ++i) {
    StreamFaults faults = controller.BeginStream();
    if (faults.end_after_messages.has_value()) failed.push_back(faults.stream_index);
  }
  return failed;
}

TEST(FaultControllerTest, RandomFailuresReplayExactlyForTheSameSeed) {
  std::vector<int64_t> first = RandomlyFailedStreams(42);
  EXPECT_EQ(first, RandomlyFailedStreams(42));
  EXPECT_NE(first, RandomlyFailedStreams(43));
  EXPECT_GT(first.size(), 30u);  // ~60 expected of 200 at p = 0.3.
  EXPECT_LT(first.size(), 100u);
}

TEST(StatusCodeNamesTest, ParseAcceptsNamesAnyCaseAndNumbers) {
  EXPECT_EQ(*ParseStatusCode("UNAVAILABLE"), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(*ParseStatusCode("permission_denied"), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(*ParseStatusCode("16"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(ParseStatusCode("NOPE").ok());
  EXPECT_FALSE(ParseStatusCode("17").ok());
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::DATA_LOSS), "DATA_LOSS");
}

}  // namespace
}  // namespace sift_stream::testing
