// engine/retry_rules.h — when a failed call to Sift is tried again, and how long to wait first.
//
// Two rules, on purpose, side by side so that they are changed together:
// - A stream (live or re-ingestion) carries data that is safe on disk, so it retries every
//   failure except the three that say the request itself is wrong: a bad or revoked API key,
//   a missing permission, an invalid request. Retrying those cannot succeed; anything else
//   (an outage, a restart, an overloaded server, a cut connection, an unknown error) may pass.
// - A set-up call (creating the ingestion config, the run, a flow) blocks Build() or a caller
//   waiting for an answer, so it retries only failures known to be transient and reports the
//   rest at once (e.g. NOT_FOUND for a wrong existing config id, ALREADY_EXISTS).

#ifndef SIFT_STREAM_ENGINE_RETRY_RULES_H_
#define SIFT_STREAM_ENGINE_RETRY_RULES_H_

#include <grpcpp/support/status.h>

#include <random>

#include "absl/time/time.h"

namespace sift_stream::engine {

struct RetryPolicy {
  // 0: retry for ever (the data is on disk; giving up only stops the live path).
  int max_attempts = 0;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  double multiplier = 2.0;
  // Each backoff is scaled by a random factor in [1 - jitter, 1 + jitter].
  double jitter = 0.2;
};

// The wait before the next attempt after `failed_attempts` (>= 1) consecutive failures:
// initial_backoff * multiplier^(failed_attempts - 1), capped at max_backoff, then jittered.
absl::Duration RetryBackoff(const RetryPolicy& policy, int failed_attempts, std::mt19937_64& rng);

// Whether a data stream that ended with `code` is worth opening again.
bool StreamMayRetry(grpc::StatusCode code);

// Whether a set-up call that failed with `code` is worth making again.
bool SetupCallMayRetry(grpc::StatusCode code);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_RETRY_RULES_H_
