// Service-name tests for proto/: every gRPC method of ../shared/spec/wire.md must be reached at
// Sift's path "/<package>.<Service>/<Method>", with Sift's streaming kind and message types.
//
// Two independent checks:
//  1. Descriptors: the path built from each ServiceDescriptor/MethodDescriptor, the streaming
//     flags and the request/response message full names.
//  2. The generated stubs themselves: each stub method is called over an in-process channel to a
//     generic server that answers every call with UNIMPLEMENTED and the path it was called on, so
//     the test sees the exact path the stub put on the wire.
// A renamed package, service or method, or a changed streaming kind, fails a test.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/status.h"
#include "proto/sift/ingest/v1/ingest.grpc.pb.h"
#include "proto/sift/ingest/v1/ingest.pb.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.grpc.pb.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"
#include "proto/sift/runs/v2/runs.grpc.pb.h"
#include "proto/sift/runs/v2/runs.pb.h"

namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

namespace ingest = sift::ingest::v1;
namespace configs = sift::ingestion_configs::v2;
namespace runs = sift::runs::v2;

enum class Kind { kUnary, kClientStreaming };

struct MethodSpec {
  const char* service;   // full name, package included
  const char* method;
  const char* path;      // what goes in the HTTP/2 :path header, written out in full
  Kind kind;
  const char* request;   // full name
  const char* response;  // full name
};

constexpr char kIngestService[] = "sift.ingest.v1.IngestService";
constexpr char kIngestionConfigService[] = "sift.ingestion_configs.v2.IngestionConfigService";
constexpr char kRunService[] = "sift.runs.v2.RunService";

// Every method of wire.md.
const std::vector<MethodSpec> kSiftMethods = {
    {kIngestService, "IngestWithConfigDataStream",
     "/sift.ingest.v1.IngestService/IngestWithConfigDataStream", Kind::kClientStreaming,
     "sift.ingest.v1.IngestWithConfigDataStreamRequest",
     "sift.ingest.v1.IngestWithConfigDataStreamResponse"},
    {kIngestionConfigService, "GetIngestionConfig",
     "/sift.ingestion_configs.v2.IngestionConfigService/GetIngestionConfig", Kind::kUnary,
     "sift.ingestion_configs.v2.GetIngestionConfigRequest",
     "sift.ingestion_configs.v2.GetIngestionConfigResponse"},
    {kIngestionConfigService, "CreateIngestionConfig",
     "/sift.ingestion_configs.v2.IngestionConfigService/CreateIngestionConfig", Kind::kUnary,
     "sift.ingestion_configs.v2.CreateIngestionConfigRequest",
     "sift.ingestion_configs.v2.CreateIngestionConfigResponse"},
    {kIngestionConfigService, "ListIngestionConfigs",
     "/sift.ingestion_configs.v2.IngestionConfigService/ListIngestionConfigs", Kind::kUnary,
     "sift.ingestion_configs.v2.ListIngestionConfigsRequest",
     "sift.ingestion_configs.v2.ListIngestionConfigsResponse"},
    {kIngestionConfigService, "CreateIngestionConfigFlows",
     "/sift.ingestion_configs.v2.IngestionConfigService/CreateIngestionConfigFlows",
     Kind::kUnary, "sift.ingestion_configs.v2.CreateIngestionConfigFlowsRequest",
     "sift.ingestion_configs.v2.CreateIngestionConfigFlowsResponse"},
    {kIngestionConfigService, "ListIngestionConfigFlows",
     "/sift.ingestion_configs.v2.IngestionConfigService/ListIngestionConfigFlows", Kind::kUnary,
     "sift.ingestion_configs.v2.ListIngestionConfigFlowsRequest",
     "sift.ingestion_configs.v2.ListIngestionConfigFlowsResponse"},
    {kRunService, "CreateRun", "/sift.runs.v2.RunService/CreateRun", Kind::kUnary,
     "sift.runs.v2.CreateRunRequest", "sift.runs.v2.CreateRunResponse"},
    {kRunService, "GetRun", "/sift.runs.v2.RunService/GetRun", Kind::kUnary,
     "sift.runs.v2.GetRunRequest", "sift.runs.v2.GetRunResponse"},
    {kRunService, "ListRuns", "/sift.runs.v2.RunService/ListRuns", Kind::kUnary,
     "sift.runs.v2.ListRunsRequest", "sift.runs.v2.ListRunsResponse"},
    {kRunService, "StopRun", "/sift.runs.v2.RunService/StopRun", Kind::kUnary,
     "sift.runs.v2.StopRunRequest", "sift.runs.v2.StopRunResponse"},
    {kRunService, "CreateAutomaticRunAssociationForAssets",
     "/sift.runs.v2.RunService/CreateAutomaticRunAssociationForAssets", Kind::kUnary,
     "sift.runs.v2.CreateAutomaticRunAssociationForAssetsRequest",
     "sift.runs.v2.CreateAutomaticRunAssociationForAssetsResponse"},
};

const ServiceDescriptor* FindService(const std::string& full_name) {
  return DescriptorPool::generated_pool()->FindServiceByName(full_name);
}

// ---------------------------------------------------------------------------------------------
// Descriptors
// ---------------------------------------------------------------------------------------------

TEST(SiftServiceNames, GeneratedServicesCarrySiftsPackageQualifiedNames) {
  EXPECT_STREQ(ingest::IngestService::service_full_name(), kIngestService);
  EXPECT_STREQ(configs::IngestionConfigService::service_full_name(), kIngestionConfigService);
  EXPECT_STREQ(runs::RunService::service_full_name(), kRunService);
  // The stubs' full names must be the ones in the descriptor pool that the paths come from.
  EXPECT_NE(FindService(ingest::IngestService::service_full_name()), nullptr);
  EXPECT_NE(FindService(configs::IngestionConfigService::service_full_name()), nullptr);
  EXPECT_NE(FindService(runs::RunService::service_full_name()), nullptr);
}

TEST(SiftServiceNames, EveryMethodOfTheSpecHasSiftsPathKindAndMessages) {
  for (const MethodSpec& spec : kSiftMethods) {
    SCOPED_TRACE(spec.path);
    const ServiceDescriptor* service = FindService(spec.service);
    ASSERT_NE(service, nullptr) << "service not declared (renamed service or package?)";
    const MethodDescriptor* method = service->FindMethodByName(spec.method);
    ASSERT_NE(method, nullptr) << "method not declared (renamed?)";
    // The path the generated stub uses: "/" + service full name + "/" + method name.
    EXPECT_EQ("/" + service->full_name() + "/" + method->name(), spec.path);
    EXPECT_EQ(method->client_streaming(), spec.kind == Kind::kClientStreaming);
    EXPECT_FALSE(method->server_streaming());
    EXPECT_EQ(method->input_type()->full_name(), spec.request);
    EXPECT_EQ(method->output_type()->full_name(), spec.response);
  }
}

// A method we declare that the table lacks was added without checking it against Sift's API.
TEST(SiftServiceNames, NoServiceDeclaresAMethodMissingFromTheSpecTable) {
  const std::vector<std::pair<std::string, int>> method_counts = {
      {kIngestService, 1}, {kIngestionConfigService, 5}, {kRunService, 5}};
  for (const auto& [full_name, count] : method_counts) {
    const ServiceDescriptor* service = FindService(full_name);
    ASSERT_NE(service, nullptr) << full_name;
    EXPECT_EQ(service->method_count(), count) << full_name;
  }
}

// ---------------------------------------------------------------------------------------------
// The stubs, over an in-process channel
// ---------------------------------------------------------------------------------------------

// Answers every call, whatever its path, with UNIMPLEMENTED and the path as the message.
class PathEchoService final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      explicit Reactor(const std::string& path) {
        Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, path));
      }
      void OnDone() override { delete this; }
    };
    return new Reactor(ctx->method());
  }
};

class StubPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr) << "in-process gRPC server did not start";
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  // A context that cannot hang the test if the server never answers.
  static void SetDeadline(grpc::ClientContext* context) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }

  // The path a stub call reached, as echoed by PathEchoService.
  static std::string PathOf(const grpc::Status& status) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
        << "call did not reach the echo server: " << status.error_message();
    return status.error_message();
  }

  template <typename Stub, typename Request, typename Response>
  static std::string UnaryPath(
      Stub* stub, grpc::Status (Stub::*call)(grpc::ClientContext*, const Request&, Response*)) {
    grpc::ClientContext context;
    SetDeadline(&context);
    Request request;
    Response response;
    return PathOf((stub->*call)(&context, request, &response));
  }

  PathEchoService service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(StubPathTest, IngestStubStreamsToSiftsPath) {
  auto stub = ingest::IngestService::NewStub(channel_);
  grpc::ClientContext context;
  SetDeadline(&context);
  ingest::IngestWithConfigDataStreamResponse response;
  std::unique_ptr<grpc::ClientWriter<ingest::IngestWithConfigDataStreamRequest>> writer =
      stub->IngestWithConfigDataStream(&context, &response);
  // The server may already have finished the call; a failed WritesDone is expected then.
  writer->WritesDone();
  EXPECT_EQ(PathOf(writer->Finish()), "/sift.ingest.v1.IngestService/IngestWithConfigDataStream");
}

TEST_F(StubPathTest, IngestionConfigStubsCallSiftsPaths) {
  using Stub = configs::IngestionConfigService::Stub;
  auto stub = configs::IngestionConfigService::NewStub(channel_);
  EXPECT_EQ(UnaryPath(stub.get(), &Stub::GetIngestionConfig),
            "/sift.ingestion_configs.v2.IngestionConfigService/GetIngestionConfig");
  EXPECT_EQ(UnaryPath(stub.get(), &Stub::CreateIngestionConfig),
            "/sift.ingestion_configs.v2.IngestionConfigService/CreateIngestionConfig");
  EXPECT_EQ(UnaryPath(stub.get(), &Stub::ListIngestionConfigs),
            "/sift.ingestion_configs.v2.IngestionConfigService/ListIngestionConfigs");
  EXPECT_EQ(UnaryPath(stub.get(), &Stub::CreateIngestionConfigFlows),
            "/sift.ingestion_configs.v2.IngestionConfigService/CreateIngestionConfigFlows");
  EXPECT_EQ(UnaryPath(stub.get(), &Stub::ListIngestionConfigFlows),
            "/sift.ingestion_configs.v2.IngestionConfigService/ListIngestionConfigFlows");
}

TEST_F(StubPathTest, RunStubsCallSiftsPaths) {
  using Stub = runs::RunService::Stub;
  auto stub = runs::RunService::NewStub(channel_);
  EXPECT_EQ(UnaryPath(stub.get(), &Stub::CreateRun), "/sift.runs.v2.RunService/CreateRun");
  EXPECT_EQ(UnaryPath(stub.get(), &Stub::GetRun), "/sift.runs.v2.RunService/GetRun");
  EXPECT_EQ(UnaryPath(stub.get(), &Stub::ListRuns), "/sift.runs.v2.RunService/ListRuns");
  EXPECT_EQ(UnaryPath(stub.get(), &Stub::StopRun), "/sift.runs.v2.RunService/StopRun");
  EXPECT_EQ(UnaryPath(stub.get(), &Stub::CreateAutomaticRunAssociationForAssets),
            "/sift.runs.v2.RunService/CreateAutomaticRunAssociationForAssets");
}

}  // namespace
