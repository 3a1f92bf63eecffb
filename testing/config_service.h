// testing/config_service.h — the fake Sift server's sift.ingestion_configs.v2
// IngestionConfigService: the calls a client makes at start-up to register its asset's flows.
//
// Each call is authenticated, then offered to the fault plan (fail_unary_count,
// reject_all_code), then served from the Registry, which holds the rules real Sift enforces
// (required names, data types, immutable flows). See registry.h for filters and paging.
//
// Example:
//
//   Registry registry;
//   ApiKeyCheck auth({"test-key"});
//   FaultController faults;
//   IngestionConfigServiceImpl configs(registry, auth, faults);
//   grpc::ServerBuilder builder;
//   builder.RegisterService(&configs);
//
// Thread-safety: a sync gRPC service; every method may run on any server thread.

#ifndef SIFT_STREAM_TESTING_CONFIG_SERVICE_H_
#define SIFT_STREAM_TESTING_CONFIG_SERVICE_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "proto/sift/ingestion_configs/v2/ingestion_configs.grpc.pb.h"
#include "testing/auth.h"
#include "testing/fault_plan.h"
#include "testing/registry.h"
#include "testing/unary_call.h"

namespace sift_stream::testing {

class IngestionConfigServiceImpl final
    : public sift::ingestion_configs::v2::IngestionConfigService::Service {
 public:
  // `registry`, `auth` and `faults` must outlive the service.
  IngestionConfigServiceImpl(Registry& registry, const ApiKeyCheck& auth,
                             FaultController& faults)
      : registry_(registry), gate_(auth, faults) {}

  grpc::Status GetIngestionConfig(
      grpc::ServerContext* context,
      const sift::ingestion_configs::v2::GetIngestionConfigRequest* request,
      sift::ingestion_configs::v2::GetIngestionConfigResponse* response) override;

  grpc::Status CreateIngestionConfig(
      grpc::ServerContext* context,
      const sift::ingestion_configs::v2::CreateIngestionConfigRequest* request,
      sift::ingestion_configs::v2::CreateIngestionConfigResponse* response) override;

  grpc::Status ListIngestionConfigs(
      grpc::ServerContext* context,
      const sift::ingestion_configs::v2::ListIngestionConfigsRequest* request,
      sift::ingestion_configs::v2::ListIngestionConfigsResponse* response) override;

  grpc::Status CreateIngestionConfigFlows(
      grpc::ServerContext* context,
      const sift::ingestion_configs::v2::CreateIngestionConfigFlowsRequest* request,
      sift::ingestion_configs::v2::CreateIngestionConfigFlowsResponse* response) override;

  grpc::Status ListIngestionConfigFlows(
      grpc::ServerContext* context,
      const sift::ingestion_configs::v2::ListIngestionConfigFlowsRequest* request,
      sift::ingestion_configs::v2::ListIngestionConfigFlowsResponse* response) override;

  // Calls and failures so far, over all five methods.
  UnaryStats stats() const { return gate_.stats(); }

 private:
  Registry& registry_;
  UnaryCallGate gate_;
};

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_CONFIG_SERVICE_H_
