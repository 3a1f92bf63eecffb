// testing/fault_plan.h — the faults the fake Sift server injects, and the live state that
// decides, call by call, which of them applies.
//
// A FaultPlan is plain data: set it at start (flags of fake_sift_server) or at run time
// (FakeSift::SetFaults). A FaultController holds the plan in force and counts streams and
// unary calls, so that "the 3rd stream" or "every 2nd stream" mean the same thing on every
// run; the one random fault (stream_failure_probability) draws from a generator seeded with
// `seed` and the stream's index, so a failing test replays exactly.
//
// Stream numbering: streams are numbered 1, 2, 3, ... in the order the server accepts them,
// across the server's whole life (restarts included); refused streams (outage, rejection)
// take a number too.
//
// Thread-safety: FaultController is thread-safe; each stream asks once, at its start.

#ifndef SIFT_STREAM_TESTING_FAULT_PLAN_H_
#define SIFT_STREAM_TESTING_FAULT_PLAN_H_

#include <mutex>
#include <grpcpp/support/status.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sift_stream::testing {

// Which streams a fault hits: the Nth one, or (every) each Nth one. nth == 0: never.
struct StreamSelector {
  int64_t nth = 0;
  bool every = false;

  bool Matches(int64_t stream_index) const;
};

struct FaultPlan {
  uint64_t seed = 1;

  // End the selected streams after `after_messages` messages with `code`.
  StreamSelector end_stream;
  int64_t end_stream_after_messages = 0;
  grpc::StatusCode end_stream_code = grpc::StatusCode::UNAVAILABLE;

  // The selected streams read everything, then return `fail_at_end_code` instead of OK.
  StreamSelector fail_at_end;
  grpc::StatusCode fail_at_end_code = grpc::StatusCode::INTERNAL;

  // The selected streams read everything, then wait this long before answering (OK).
  StreamSelector hang_at_end;
  absl::Duration hang_at_end_for = absl::ZeroDuration();

  // Every stream sleeps `slow_reader_sleep` after each `slow_reader_every` messages.
  int64_t slow_reader_every = 0;
  absl::Duration slow_reader_sleep = absl::ZeroDuration();

  // Each stream independently ends after a random number of messages (< 1000) with
  // UNAVAILABLE, with this probability; deterministic given `seed` and the stream's index.
  double stream_failure_probability = 0;

  // Streams opened before this time are refused with UNAVAILABLE (an outage).
  absl::Time refuse_streams_until = absl::InfinitePast();

  // The next `fail_unary_count` unary calls (config, flow, run set-up) fail with this code.
  int64_t fail_unary_count = 0;
  grpc::StatusCode fail_unary_code = grpc::StatusCode::UNAVAILABLE;

  // Every call, streams and unary, is refused with this code (e.g. PERMISSION_DENIED);
  // OK turns it off.
  grpc::StatusCode reject_all_code = grpc::StatusCode::OK;

  // A stream that carries a message of this flow ends there with `refused_flow_code`: data
  // Sift will never take, for testing that it does not hold up the rest. Empty: off.
  std::string refused_flow;
  grpc::StatusCode refused_flow_code = grpc::StatusCode::INTERNAL;
};

// What happens to one stream, decided when it starts.
struct StreamFaults {
  int64_t stream_index = 0;
  // Refuse the stream at once with this status (outage or rejection).
  std::optional<grpc::Status> refuse;
  // End the stream after this many messages with this status.
  std::optional<int64_t> end_after_messages;
  grpc::Status end_status;
  // After the client half-closes: wait, then answer with this status instead of OK.
  absl::Duration hang_at_end = absl::ZeroDuration();
  std::optional<grpc::Status> fail_at_end;
  int64_t slow_reader_every = 0;
  absl::Duration slow_reader_sleep = absl::ZeroDuration();
  // End the stream with `refused_flow_status` at the first message of this flow (if set).
  std::string refused_flow;
  grpc::Status refused_flow_status;
};

class FaultController {
 public:
  void Set(const FaultPlan& plan);
  FaultPlan Get() const;

  // Decides the faults of the next stream and counts it.
  StreamFaults BeginStream();
  // Non-OK if this unary call must fail (counts down fail_unary_count).
  grpc::Status CheckUnary();

  int64_t streams_begun() const;

 private:
  mutable std::mutex mu_;
  FaultPlan plan_ ABSL_GUARDED_BY(mu_);
  int64_t streams_ ABSL_GUARDED_BY(mu_) = 0;
};

// "UNAVAILABLE", "unavailable" or "14" → the code; for flags and JSON.
absl::StatusOr<grpc::StatusCode> ParseStatusCode(const std::string& text);
std::string StatusCodeName(grpc::StatusCode code);

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_FAULT_PLAN_H_
