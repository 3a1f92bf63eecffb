#include "engine/retry_rules.h"

#include <algorithm>

namespace sift_stream::engine {

absl::Duration RetryBackoff(const RetryPolicy& policy, int failed_attempts,
                            std::mt19937_64& rng) {
  absl::Duration base = policy.initial_backoff;
  for (int i = 1; i < failed_attempts && base < policy.max_backoff; ++i) {
    base = base * policy.multiplier;
  }
  base = std::min(base, policy.max_backoff);
  std::uniform_real_distribution<double> jitter(1 - policy.jitter, 1 + policy.jitter);
  return base * jitter(rng);
}

bool StreamMayRetry(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::INVALID_ARGUMENT:
      return false;
    default:
      return true;
  }
}

bool SetupCallMayRetry(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
      return true;
    default:
      return false;
  }
}

}  // namespace sift_stream::engine
