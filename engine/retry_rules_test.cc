// Which failures are retried, and how long the waits between attempts grow.
#include "engine/retry_rules.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"

namespace sift_stream::engine {
namespace {

using grpc::StatusCode;

TEST(RetryRulesTest, StreamsGiveUpOnlyWhenTheRequestItselfIsWrong) {
  for (StatusCode code : {StatusCode::UNAUTHENTICATED, StatusCode::PERMISSION_DENIED,
                          StatusCode::INVALID_ARGUMENT}) {
    EXPECT_FALSE(StreamMayRetry(code)) << code;
  }
  for (StatusCode code :
       {StatusCode::UNAVAILABLE, StatusCode::DEADLINE_EXCEEDED, StatusCode::RESOURCE_EXHAUSTED,
        StatusCode::ABORTED, StatusCode::INTERNAL, StatusCode::UNKNOWN, StatusCode::CANCELLED,
        StatusCode::NOT_FOUND, StatusCode::FAILED_PRECONDITION, StatusCode::UNIMPLEMENTED,
        StatusCode::DATA_LOSS}) {
    EXPECT_TRUE(StreamMayRetry(code)) << code;
  }
}

TEST(RetryRulesTest, SetupCallsRetryOnlyWhatIsTransient) {
  for (StatusCode code :
       {StatusCode::UNAVAILABLE, StatusCode::DEADLINE_EXCEEDED, StatusCode::RESOURCE_EXHAUSTED,
        StatusCode::ABORTED, StatusCode::INTERNAL, StatusCode::UNKNOWN}) {
    EXPECT_TRUE(SetupCallMayRetry(code)) << code;
  }
  for (StatusCode code :
       {StatusCode::UNAUTHENTICATED, StatusCode::PERMISSION_DENIED, StatusCode::INVALID_ARGUMENT,
        StatusCode::NOT_FOUND, StatusCode::ALREADY_EXISTS, StatusCode::FAILED_PRECONDITION,
        StatusCode::UNIMPLEMENTED, StatusCode::CANCELLED}) {
    EXPECT_FALSE(SetupCallMayRetry(code)) << code;
  }
}

TEST(RetryRulesTest, BackoffGrowsByTheMultiplierUpToTheCap) {
  RetryPolicy policy;
  policy.initial_backoff = absl::Milliseconds(100);
  policy.max_backoff = absl::Seconds(1);
  policy.multiplier = 2;
  policy.jitter = 0;
  std::mt19937_64 rng(1);
  EXPECT_EQ(RetryBackoff(policy, 1, rng), absl::Milliseconds(100));
  EXPECT_EQ(RetryBackoff(policy, 2, rng), absl::Milliseconds(200));
  EXPECT_EQ(RetryBackoff(policy, 4, rng), absl::Milliseconds(800));
  EXPECT_EQ(RetryBackoff(policy, 5, rng), absl::Seconds(1));
  EXPECT_EQ(RetryBackoff(policy, 1000000, rng), absl::Seconds(1));  // No overflow, no loop.
}

TEST(RetryRulesTest, JitterStaysWithinItsShareAndVaries) {
  RetryPolicy policy;
  policy.initial_backoff = absl::Seconds(1);
  policy.jitter = 0.2;
  std::mt19937_64 rng(7);
  absl::Duration low = absl::InfiniteDuration(), high = absl::ZeroDuration();
  for (int i = 0; i < 1000; ++i) {
    const absl::Duration wait = RetryBackoff(policy, 1, rng);
    low = std::min(low, wait);
    high = std::max(high, wait);
  }
  EXPECT_GE(low, absl::Milliseconds(800));
  EXPECT_LE(high, absl::Milliseconds(1200));
  EXPECT_GT(high - low, absl::Milliseconds(200)) << "jitter must spread clients apart";
}

}  // namespace
}  // namespace sift_stream::engine
