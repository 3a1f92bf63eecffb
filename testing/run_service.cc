#include "testing/run_service.h"

#include <utility>

namespace sift_stream::testing {

namespace v2 = ::sift::runs::v2;

grpc::Status RunServiceImpl::CreateRun(grpc::ServerContext* context,
                                       const v2::CreateRunRequest* request,
                                       v2::CreateRunResponse* response) {
  return gate_.Run(*context, [&]() -> absl::Status {
    absl::StatusOr<v2::Run> run = registry_.CreateRun(*request);
    if (!run.ok()) return run.status();
    *response->mutable_run() = *std::move(run);
    return absl::OkStatus();
  });
}

grpc::Status RunServiceImpl::GetRun(grpc::ServerContext* context,
                                    const v2::GetRunRequest* request,
                                    v2::GetRunResponse* response) {
  return gate_.Run(*context, [&]() -> absl::Status {
    absl::StatusOr<v2::Run> run = registry_.GetRun(request->run_id());
    if (!run.ok()) return run.status();
    *response->mutable_run() = *std::move(run);
    return absl::OkStatus();
  });
}

grpc::Status RunServiceImpl::ListRuns(grpc::ServerContext* context,
                                      const v2::ListRunsRequest* request,
                                      v2::ListRunsResponse* response) {
  return gate_.Run(*context, [&]() -> absl::Status {
    absl::StatusOr<v2::ListRunsResponse> page = registry_.ListRuns(*request);
    if (!page.ok()) return page.status();
    *response = *std::move(page);
    return absl::OkStatus();
  });
}

grpc::Status RunServiceImpl::StopRun(grpc::ServerContext* context,
                                     const v2::StopRunRequest* request,
                                     v2::StopRunResponse* /*response: empty*/) {
  return gate_.Run(*context, [&] { return registry_.StopRun(request->run_id()); });
}

grpc::Status RunServiceImpl::CreateAutomaticRunAssociationForAssets(
    grpc::ServerContext* context,
    const v2::CreateAutomaticRunAssociationForAssetsRequest* request,
    v2::CreateAutomaticRunAssociationForAssetsResponse* /*response: empty*/) {
  return gate_.Run(*context, [&] { return registry_.AssociateAssets(*request); });
}

}  // namespace sift_stream::testing
