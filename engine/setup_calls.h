// engine/setup_calls.h — the unary calls a stream makes before it streams, as Sift's own
// clients make them (../shared/spec/wire.md, "Start-up").
//
//   1. ListIngestionConfigs with `client_key == "<key>"`; create the config if absent.
//   2. ListIngestionConfigFlows; create the declared flows the server lacks. A flow that
//      exists under the same name with different channels is the user's error: said clearly,
//      never papered over (the server would reject every message of one of the two).
//   3. The run, if any: by id (GetRun), or by client_key (ListRuns with a filter; created only
//      if absent, so that a restarted process keeps streaming into the same run), or new.
//
// Each call is retried with the stream's RetryPolicy while the error is one that retrying can
// fix (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN);
// UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT, ALREADY_EXISTS and the rest fail at
// once with a message naming the call. Blocking: runs on the caller's thread in Build().
//
// Steps 2 and 3 are also what a running stream does to change course (SiftStream::AddFlows,
// SiftStream::AttachRun): RegisterFlows and ResolveRun, on the caller's thread, with the
// same retries.

#ifndef SIFT_STREAM_ENGINE_SETUP_CALLS_H_
#define SIFT_STREAM_ENGINE_SETUP_CALLS_H_

#include <grpcpp/channel.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/ingestion_task.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"
#include "proto/sift/runs/v2/runs.pb.h"

namespace sift_stream::engine {

struct IngestionConfigSpec {
  std::string asset_name;
  // Identifies the config across processes; required.
  std::string client_key;
  std::vector<sift::ingestion_configs::v2::FlowConfig> flows;
  std::string organization_id;
};

struct RunSpec {
  enum class Kind { kNone, kNew, kByClientKey, kById };
  Kind kind = Kind::kNone;
  std::string run_id;      // kById
  std::string name;        // kNew, kByClientKey (used if the run must be created)
  std::string client_key;  // kByClientKey
  std::string description;
  std::vector<std::string> tags;
};

struct SetupResult {
  std::string ingestion_config_id;
  std::string asset_id;
  std::string run_id;  // Empty without a run.
  // The flows as the server has them, in the order declared.
  std::vector<sift::ingestion_configs::v2::FlowConfig> flows;
  int retries = 0;
};

struct SetupOptions {
  std::string api_key;
  RetryPolicy retry;
  // Per call.
  absl::Duration timeout = absl::Seconds(30);
  // RunSetupCalls refuses a config that declares no flow, unless the stream registers flows
  // as it meets them (SiftStreamBuilder::AutoRegisterFlows).
  bool require_flows = true;
};

absl::StatusOr<SetupResult> RunSetupCalls(const std::shared_ptr<grpc::Channel>& channel,
                                          const IngestionConfigSpec& config, const RunSpec& run,
                                          const SetupOptions& options);

// Step 2 on its own: creates those of `flows` that ingestion config `config_id` lacks. A flow
// the server has under the same name with other channels is FailedPrecondition, naming the
// flow and `client_key` (for the message only); nothing is created then. `flows` must not be
// empty.
absl::Status RegisterFlows(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& config_id, const std::string& client_key,
                           const std::vector<sift::ingestion_configs::v2::FlowConfig>& flows,
                           const SetupOptions& options);

// Step 3 on its own: the id of the run `run` names (kNew creates one; kByClientKey finds or
// creates one; kById checks it exists). Empty for kNone. InvalidArgument for a spec that lacks
// the id or client_key its kind needs.
absl::StatusOr<std::string> ResolveRun(const std::shared_ptr<grpc::Channel>& channel,
                                       const RunSpec& run, const std::string& organization_id,
                                       const SetupOptions& options);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_SETUP_CALLS_H_
