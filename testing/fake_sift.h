// testing/fake_sift.h — an in-memory Sift that fails on command, for tests of ingestion code.
//
// FakeSift is a real gRPC server (plaintext, loopback by default) implementing the parts of
// Sift's API a streaming client uses: IngestService/IngestWithConfigDataStream,
// IngestionConfigService (configs and flows) and RunService. It checks the API key on every
// call, validates every ingest request against its flow, and records what arrived — keyed by
// (config id, flow, timestamp, run id) — telling apart messages that merely arrived from those
// *committed*: received in a stream that ended OK, i.e. acknowledged, as real Sift would.
//
// Faults (testing/fault_plan.h) can be set at start and changed while running. Two faults
// are about the server itself rather than one stream: an outage (streams refused with
// UNAVAILABLE for a while) and a restart (the server stops listening, cutting every open
// connection, and comes back on the same port). What was recorded, registered and committed
// survives a restart, as it would in Sift.
//
// Example:
//
//   testing::FakeSiftOptions options;
//   options.api_keys = {"test-key"};
//   auto sift = testing::FakeSift::Start(options);
//   ASSERT_TRUE(sift.ok());
//   MyClient client((*sift)->address(), "test-key");
//   testing::FaultPlan plan;
//   plan.end_stream = {2, false};          // the 2nd stream ends after 100 messages
//   plan.end_stream_after_messages = 100;
//   (*sift)->SetFaults(plan);
//   client.SendAll(10000);
//   EXPECT_EQ((*sift)->Stats().ingest.committed_messages, 10000);
//
// Thread-safety: every method may be called from any thread.

#ifndef SIFT_STREAM_TESTING_FAKE_SIFT_H_
#define SIFT_STREAM_TESTING_FAKE_SIFT_H_

#include <mutex>
#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testing/auth.h"
#include "testing/fault_plan.h"
#include "testing/ingest_recorder.h"
#include "testing/registry.h"
#include "testing/unary_call.h"

namespace sift_stream::testing {

struct FakeSiftOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: pick a free port; see FakeSift::port().
  // Accepted API keys; empty accepts any bearer token.
  std::vector<std::string> api_keys;
  // Count ingest messages and bytes without parsing or recording them (for benchmarks).
  bool sink = false;
  FaultPlan faults;
};

// Counts of everything the server saw, across restarts.
struct FakeSiftStats {
  IngestStats ingest;
  UnaryStats ingestion_config_calls;
  UnaryStats run_calls;
  int64_t restarts = 0;

  std::string ToJson() const;
};

class FakeSift {
 public:
  static absl::StatusOr<std::unique_ptr<FakeSift>> Start(FakeSiftOptions options);
  // Shuts down (bounded: open streams are cancelled after a short grace period).
  ~FakeSift();

  FakeSift(const FakeSift&) = delete;
  FakeSift& operator=(const FakeSift&) = delete;

  int port() const { return port_; }
  // "host:port", ready for grpc::CreateChannel.
  std::string address() const;

  void SetFaults(const FaultPlan& plan) { faults_.Set(plan); }
  FaultPlan faults() const { return faults_.Get(); }

  // An outage: streams opened in the next `duration` are refused with UNAVAILABLE.
  void RefuseStreamsFor(absl::Duration duration);

  // A restart: stops listening now, cutting open streams (their messages stay uncommitted),
  // and listens again on the same port after `down_for`. Blocks until the server is back.
  absl::Status Restart(absl::Duration down_for);

  FakeSiftStats Stats() const;
  // Forgets what arrived (not what was registered).
  void ResetStats() { recorder_.Reset(); }

  // The registered configs, flows and runs, e.g. to pre-register a config in a test.
  Registry& registry() { return registry_; }
  IngestRecorder& recorder() { return recorder_; }

  // Stops the server; open streams get `grace` to finish, then are cancelled.
  void Shutdown(absl::Duration grace = absl::Seconds(1));

 private:
  struct Services;

  explicit FakeSift(FakeSiftOptions options);
  absl::Status Listen(int port) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopListening(absl::Duration grace) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const FakeSiftOptions options_;
  const ApiKeyCheck auth_;
  Registry registry_;
  IngestRecorder recorder_;
  FaultController faults_;

  mutable std::mutex mu_;
  int port_ = 0;
  std::unique_ptr<Services> services_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
  UnaryStats past_config_calls_ ABSL_GUARDED_BY(mu_);
  UnaryStats past_run_calls_ ABSL_GUARDED_BY(mu_);
  int64_t restarts_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_FAKE_SIFT_H_
