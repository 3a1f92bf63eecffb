// testing/run_service.h — the fake Sift server's sift.runs.v2 RunService: the calls a client
// makes to find or create the run its data belongs to, stop it, and tie assets to it.
//
// Each call is authenticated, then offered to the fault plan (fail_unary_count,
// reject_all_code), then served from the Registry (see registry.h for filters and paging).
// Runs are looked up by client_key before being created, so ALREADY_EXISTS on a client_key
// means a client skipped that look-up.
//
// Example:
//
//   RunServiceImpl runs(registry, auth, faults);
//   builder.RegisterService(&runs);
//   ...
//   EXPECT_TRUE(registry.RunExists(run_id));
//
// Thread-safety: a sync gRPC service; every method may run on any server thread.

#ifndef SIFT_STREAM_TESTING_RUN_SERVICE_H_
#define SIFT_STREAM_TESTING_RUN_SERVICE_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "proto/sift/runs/v2/runs.grpc.pb.h"
#include "testing/auth.h"
#include "testing/fault_plan.h"
#include "testing/registry.h"
#include "testing/unary_call.h"

namespace sift_stream::testing {

class RunServiceImpl final : public sift::runs::v2::RunService::Service {
 public:
  // `registry`, `auth` and `faults` must outlive the service.
  RunServiceImpl(Registry& registry, const ApiKeyCheck& auth, FaultController& faults)
      : registry_(registry), gate_(auth, faults) {}

  grpc::Status CreateRun(grpc::ServerContext* context,
                         const sift::runs::v2::CreateRunRequest* request,
                         sift::runs::v2::CreateRunResponse* response) override;

  grpc::Status GetRun(grpc::ServerContext* context, const sift::runs::v2::GetRunRequest* request,
                      sift::runs::v2::GetRunResponse* response) override;

  grpc::Status ListRuns(grpc::ServerContext* context,
                        const sift::runs::v2::ListRunsRequest* request,
                        sift::runs::v2::ListRunsResponse* response) override;

  grpc::Status StopRun(grpc::ServerContext* context, const sift::runs::v2::StopRunRequest* request,
                       sift::runs::v2::StopRunResponse* response) override;

  grpc::Status CreateAutomaticRunAssociationForAssets(
      grpc::ServerContext* context,
      const sift::runs::v2::CreateAutomaticRunAssociationForAssetsRequest* request,
      sift::runs::v2::CreateAutomaticRunAssociationForAssetsResponse* response) override;

  // Calls and failures so far, over all five methods.
  UnaryStats stats() const { return gate_.stats(); }

 private:
  Registry& registry_;
  UnaryCallGate gate_;
};

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_RUN_SERVICE_H_
