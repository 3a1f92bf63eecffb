#include "testing/config_service.h"

#include <utility>

namespace sift_stream::testing {

namespace v2 = ::sift::ingestion_configs::v2;

// Each handler copies the registry's answer into the response only on success: gRPC does not
// send a response message with a non-OK status anyway.

grpc::Status IngestionConfigServiceImpl::GetIngestionConfig(
    grpc::ServerContext* context, const v2::GetIngestionConfigRequest* request,
    v2::GetIngestionConfigResponse* response) {
  return gate_.Run(*context, [&]() -> absl::Status {
    absl::StatusOr<v2::IngestionConfig> config =
        registry_.GetIngestionConfig(request->ingestion_config_id());
    if (!config.ok()) return config.status();
    *response->mutable_ingestion_config() = *std::move(config);
    return absl::OkStatus();
  });
}

grpc::Status IngestionConfigServiceImpl::CreateIngestionConfig(
    grpc::ServerContext* context, const v2::CreateIngestionConfigRequest* request,
    v2::CreateIngestionConfigResponse* response) {
  return gate_.Run(*context, [&]() -> absl::Status {
    absl::StatusOr<v2::IngestionConfig> config = registry_.CreateIngestionConfig(*request);
    if (!config.ok()) return config.status();
    *response->mutable_ingestion_config() = *std::move(config);
    return absl::OkStatus();
  });
}

grpc::Status IngestionConfigServiceImpl::ListIngestionConfigs(
    grpc::ServerContext* context, const v2::ListIngestionConfigsRequest* request,
    v2::ListIngestionConfigsResponse* response) {
  return gate_.Run(*context, [&]() -> absl::Status {
    absl::StatusOr<v2::ListIngestionConfigsResponse> page =
        registry_.ListIngestionConfigs(*request);
    if (!page.ok()) return page.status();
    *response = *std::move(page);
    return absl::OkStatus();
  });
}

grpc::Status IngestionConfigServiceImpl::CreateIngestionConfigFlows(
    grpc::ServerContext* context, const v2::CreateIngestionConfigFlowsRequest* request,
    v2::CreateIngestionConfigFlowsResponse* /*response: empty*/) {
  return gate_.Run(*context, [&] { return registry_.CreateFlows(*request); });
}

grpc::Status IngestionConfigServiceImpl::ListIngestionConfigFlows(
    grpc::ServerContext* context, const v2::ListIngestionConfigFlowsRequest* request,
    v2::ListIngestionConfigFlowsResponse* response) {
  return gate_.Run(*context, [&]() -> absl::Status {
    absl::StatusOr<v2::ListIngestionConfigFlowsResponse> page = registry_.ListFlows(*request);
    if (!page.ok()) return page.status();
    *response = *std::move(page);
    return absl::OkStatus();
  });
}

}  // namespace sift_stream::testing
