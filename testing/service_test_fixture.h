// testing/service_test_fixture.h — a gtest fixture serving IngestionConfigServiceImpl and
// RunServiceImpl on a real loopback gRPC server, with the generated sync stubs, so that tests
// exercise auth metadata, status codes and serialization exactly as a client sees them.
//
//   TEST_F(ServiceTest, Something) {
//     sift::runs::v2::GetRunRequest request;
//     sift::runs::v2::GetRunResponse response;
//     grpc::Status status = Call(&RunStub::GetRun, *runs_, request, &response);
//   }
//
// Test-only.

#ifndef SIFT_STREAM_TESTING_SERVICE_TEST_FIXTURE_H_
#define SIFT_STREAM_TESTING_SERVICE_TEST_FIXTURE_H_

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.grpc.pb.h"
#include "proto/sift/runs/v2/runs.grpc.pb.h"
#include "testing/auth.h"
#include "testing/config_service.h"
#include "testing/fault_plan.h"
#include "testing/registry.h"
#include "testing/run_service.h"

namespace sift_stream::testing {

class ServiceTest : public ::testing::Test {
 protected:
  using ConfigStub = sift::ingestion_configs::v2::IngestionConfigService::Stub;
  using RunStub = sift::runs::v2::RunService::Stub;

  static constexpr char kApiKey[] = "test-api-key";

  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&config_service_);
    builder.RegisterService(&run_service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                       grpc::InsecureChannelCredentials());
    configs_ = sift::ingestion_configs::v2::IngestionConfigService::NewStub(channel);
    runs_ = sift::runs::v2::RunService::NewStub(channel);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Calls `method` on `stub` as a client holding `api_key` would (no header if nullopt),
  // with a deadline so that a hung server fails the test instead of stalling it.
  template <typename Stub, typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    Stub& stub, const Request& request, Response* response,
                    std::optional<std::string> api_key = std::string(kApiKey)) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (api_key.has_value()) context.AddMetadata("authorization", "Bearer " + *api_key);
    return (stub.*method)(&context, request, response);
  }

  void SetFaults(const FaultPlan& plan) { faults_.Set(plan); }

  Registry registry_;
  ApiKeyCheck auth_{{kApiKey}};
  FaultController faults_;
  IngestionConfigServiceImpl config_service_{registry_, auth_, faults_};
  RunServiceImpl run_service_{registry_, auth_, faults_};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ConfigStub> configs_;
  std::unique_ptr<RunStub> runs_;
};

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_SERVICE_TEST_FIXTURE_H_
