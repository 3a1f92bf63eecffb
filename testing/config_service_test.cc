// IngestionConfigServiceImpl through a real loopback gRPC server and the generated stubs.

#include "testing/config_service.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/service_test_fixture.h"

namespace sift_stream::testing {
namespace {

using ::sift::common::type::v1::ChannelDataType;
using ::sift::ingestion_configs::v2::CreateIngestionConfigFlowsRequest;
using ::sift::ingestion_configs::v2::CreateIngestionConfigFlowsResponse;
using ::sift::ingestion_configs::v2::CreateIngestionConfigRequest;
using ::sift::ingestion_configs::v2::CreateIngestionConfigResponse;
using ::sift::ingestion_configs::v2::FlowConfig;
using ::sift::ingestion_configs::v2::GetIngestionConfigRequest;
using ::sift::ingestion_configs::v2::GetIngestionConfigResponse;
using ::sift::ingestion_configs::v2::ListIngestionConfigFlowsRequest;
using ::sift::ingestion_configs::v2::ListIngestionConfigFlowsResponse;
using ::sift::ingestion_configs::v2::ListIngestionConfigsRequest;
using ::sift::ingestion_configs::v2::ListIngestionConfigsResponse;
using ::sift::runs::v2::CreateRunRequest;
using ::sift::runs::v2::CreateRunResponse;
using ::sift::runs::v2::ListRunsRequest;
using ::sift::runs::v2::ListRunsResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

FlowConfig Flow(const std::string& name, const std::vector<std::string>& double_channels) {
  FlowConfig flow;
  flow.set_name(name);
  for (const std::string& channel_name : double_channels) {
    auto* channel = flow.add_channels();
    channel->set_name(channel_name);
    channel->set_data_type(ChannelDataType::CHANNEL_DATA_TYPE_DOUBLE);
  }
  return flow;
}

class ConfigServiceTest : public ServiceTest {
 protected:
  // What a Sift client does at start-up, call by call (see shared/spec/wire.md): find the
  // config by client_key or create it, create the declared flows the server lacks, and find
  // the run by client_key or create it. Returns the config and run ids.
  struct StartUpResult {
    grpc::Status status;
    std::string config_id;
    std::string run_id;
  };
  StartUpResult StartUp(const std::string& client_key, const std::vector<FlowConfig>& flows) {
    StartUpResult result;
    result.status = FindOrCreateConfig(client_key, flows, &result.config_id);
    if (!result.status.ok()) return result;
    result.status = CreateMissingFlows(result.config_id, flows);
    if (!result.status.ok()) return result;
    result.status = FindOrCreateRun(client_key + "-run", &result.run_id);
    return result;
  }

  grpc::Status FindOrCreateConfig(const std::string& client_key,
                                  const std::vector<FlowConfig>& flows, std::string* config_id) {
    ListIngestionConfigsRequest list;
    list.set_filter("client_key == \"" + client_key + "\"");
    ListIngestionConfigsResponse found;
    grpc::Status status = Call(&ConfigStub::ListIngestionConfigs, *configs_, list, &found);
    if (!status.ok()) return status;
    if (found.ingestion_configs_size() > 0) {
      *config_id = found.ingestion_configs(0).ingestion_config_id();
      return status;
    }
    CreateIngestionConfigRequest create;
    create.set_asset_name("rover");
    create.set_client_key(client_key);
    for (const FlowConfig& flow : flows) *create.add_flows() = flow;
    CreateIngestionConfigResponse created;
    status = Call(&ConfigStub::CreateIngestionConfig, *configs_, create, &created);
    *config_id = created.ingestion_config().ingestion_config_id();
    return status;
  }

  grpc::Status CreateMissingFlows(const std::string& config_id,
                                  const std::vector<FlowConfig>& flows) {
    ListIngestionConfigFlowsRequest list;
    list.set_ingestion_config_id(config_id);
    ListIngestionConfigFlowsResponse existing;
    grpc::Status status = Call(&ConfigStub::ListIngestionConfigFlows, *configs_, list, &existing);
    if (!status.ok()) return status;
    CreateIngestionConfigFlowsRequest create;
    create.set_ingestion_config_id(config_id);
    for (const FlowConfig& flow : flows) {
      bool present = false;
      for (const FlowConfig& have : existing.flows()) present |= have.name() == flow.name();
      if (!present) *create.add_flows() = flow;
    }
    flows_created_ += create.flows_size();
    if (create.flows_size() == 0) return status;
    CreateIngestionConfigFlowsResponse response;
    return Call(&ConfigStub::CreateIngestionConfigFlows, *configs_, create, &response);
  }

  grpc::Status FindOrCreateRun(const std::string& client_key, std::string* run_id) {
    ListRunsRequest list;
    list.set_filter("client_key == '" + client_key + "'");
    ListRunsResponse found;
    grpc::Status status = Call(&RunStub::ListRuns, *runs_, list, &found);
    if (!status.ok()) return status;
    if (found.runs_size() > 0) {
      *run_id = found.runs(0).run_id();
      return status;
    }
    CreateRunRequest create;
    create.set_name("drive");
    create.set_client_key(client_key);
    CreateRunResponse created;
    status = Call(&RunStub::CreateRun, *runs_, create, &created);
    *run_id = created.run().run_id();
    return status;
  }

  grpc::Status ListConfigs(ListIngestionConfigsResponse* response,
                           std::optional<std::string> api_key = std::string(kApiKey)) {
    return Call(&ConfigStub::ListIngestionConfigs, *configs_, ListIngestionConfigsRequest(),
                response, api_key);
  }

  int flows_created_ = 0;
};

TEST_F(ConfigServiceTest, CallWithoutApiKeyIsUnauthenticated) {
  ListIngestionConfigsResponse response;
  grpc::Status status = ListConfigs(&response, std::nullopt);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("authorization"));
}

TEST_F(ConfigServiceTest, CallWithAWrongApiKeyIsUnauthenticatedWithoutEchoingIt) {
  ListIngestionConfigsResponse response;
  grpc::Status status = ListConfigs(&response, std::string("stolen-key"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), Not(HasSubstr("stolen-key")));
}

TEST_F(ConfigServiceTest, UnauthenticatedCallsDoNotUseUpInjectedFailures) {
  FaultPlan plan;
  plan.fail_unary_count = 1;
  SetFaults(plan);
  ListIngestionConfigsResponse response;
  EXPECT_EQ(ListConfigs(&response, std::nullopt).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListConfigs(&response).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(ListConfigs(&response).ok());
}

TEST_F(ConfigServiceTest, FailUnaryCountFailsExactlyTheNextCallsWithTheChosenCode) {
  FaultPlan plan;
  plan.fail_unary_count = 2;
  plan.fail_unary_code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  SetFaults(plan);
  ListIngestionConfigsResponse response;
  EXPECT_EQ(ListConfigs(&response).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ListConfigs(&response).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(ListConfigs(&response).ok());
  EXPECT_TRUE(ListConfigs(&response).ok());
  UnaryStats stats = config_service_.stats();
  EXPECT_EQ(stats.calls, 4);
  EXPECT_EQ(stats.failures, 2);
  EXPECT_EQ(stats.injected_failures, 2);
}

TEST_F(ConfigServiceTest, InjectedFailureOfACreateCreatesNothing) {
  FaultPlan plan;
  plan.fail_unary_count = 1;
  SetFaults(plan);
  CreateIngestionConfigRequest create;
  create.set_asset_name("rover");
  create.set_client_key("key");
  CreateIngestionConfigResponse created;
  EXPECT_EQ(Call(&ConfigStub::CreateIngestionConfig, *configs_, create, &created).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  ListIngestionConfigsResponse listed;
  ASSERT_TRUE(ListConfigs(&listed).ok());
  EXPECT_EQ(listed.ingestion_configs_size(), 0);
  EXPECT_TRUE(Call(&ConfigStub::CreateIngestionConfig, *configs_, create, &created).ok());
}

TEST_F(ConfigServiceTest, RejectAllRefusesEveryMethodUntilTurnedOff) {
  FaultPlan plan;
  plan.reject_all_code = grpc::StatusCode::PERMISSION_DENIED;
  SetFaults(plan);
  GetIngestionConfigResponse get;
  CreateIngestionConfigResponse create;
  ListIngestionConfigsResponse list;
  CreateIngestionConfigFlowsResponse create_flows;
  ListIngestionConfigFlowsResponse list_flows;
  const std::vector<grpc::Status> statuses = {
      Call(&ConfigStub::GetIngestionConfig, *configs_, GetIngestionConfigRequest(), &get),
      Call(&ConfigStub::CreateIngestionConfig, *configs_, CreateIngestionConfigRequest(), &create),
      Call(&ConfigStub::ListIngestionConfigs, *configs_, ListIngestionConfigsRequest(), &list),
      Call(&ConfigStub::CreateIngestionConfigFlows, *configs_,
           CreateIngestionConfigFlowsRequest(), &create_flows),
      Call(&ConfigStub::ListIngestionConfigFlows, *configs_, ListIngestionConfigFlowsRequest(),
           &list_flows),
  };
  for (const grpc::Status& status : statuses) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  }
  EXPECT_EQ(config_service_.stats().injected_failures, 5);
  SetFaults(FaultPlan());
  EXPECT_TRUE(ListConfigs(&list).ok());
}

TEST_F(ConfigServiceTest, StartUpSequenceCreatesConfigFlowsAndRunOnlyTheFirstTime) {
  const std::vector<FlowConfig> flows = {Flow("imu", {"ax", "ay"}), Flow("gps", {"lat"})};
  StartUpResult first = StartUp("rover-v1", flows);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_EQ(flows_created_, 0) << "the flows came with CreateIngestionConfig";
  EXPECT_NE(registry_.FindFlow(first.config_id, "gps"), nullptr);
  EXPECT_TRUE(registry_.RunExists(first.run_id));

  StartUpResult second = StartUp("rover-v1", flows);
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_EQ(second.config_id, first.config_id);
  EXPECT_EQ(second.run_id, first.run_id);
  EXPECT_EQ(flows_created_, 0);
  ListIngestionConfigsResponse configs;
  ASSERT_TRUE(ListConfigs(&configs).ok());
  EXPECT_EQ(configs.ingestion_configs_size(), 1);
  ListRunsResponse runs;
  ASSERT_TRUE(Call(&RunStub::ListRuns, *runs_, ListRunsRequest(), &runs).ok());
  EXPECT_EQ(runs.runs_size(), 1);
}

TEST_F(ConfigServiceTest, RestartWithAnExtraFlowCreatesOnlyThatFlow) {
  ASSERT_TRUE(StartUp("rover-v1", {Flow("imu", {"ax"})}).status.ok());
  StartUpResult restart = StartUp("rover-v1", {Flow("imu", {"ax"}), Flow("gps", {"lat"})});
  ASSERT_TRUE(restart.status.ok()) << restart.status.error_message();
  EXPECT_EQ(flows_created_, 1);
  ListIngestionConfigFlowsRequest list;
  list.set_ingestion_config_id(restart.config_id);
  ListIngestionConfigFlowsResponse listed;
  ASSERT_TRUE(Call(&ConfigStub::ListIngestionConfigFlows, *configs_, list, &listed).ok());
  ASSERT_EQ(listed.flows_size(), 2);
  EXPECT_EQ(listed.flows(1).name(), "gps");
}

TEST_F(ConfigServiceTest, StartUpSurvivesInjectedFailuresWhenTheClientRetries) {
  FaultPlan plan;
  plan.fail_unary_count = 3;
  SetFaults(plan);
  StartUpResult result;
  int attempts = 0;
  do {
    result = StartUp("rover-v1", {Flow("imu", {"ax"})});
    ++attempts;
  } while (result.status.error_code() == grpc::StatusCode::UNAVAILABLE && attempts < 10);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(attempts, 4);
  EXPECT_NE(registry_.FindFlow(result.config_id, "imu"), nullptr);
}

TEST_F(ConfigServiceTest, FlowRedeclaredWithDifferentChannelsIsAlreadyExists) {
  StartUpResult first = StartUp("rover-v1", {Flow("imu", {"ax"})});
  ASSERT_TRUE(first.status.ok());
  CreateIngestionConfigFlowsRequest create;
  create.set_ingestion_config_id(first.config_id);
  *create.add_flows() = Flow("imu", {"ax", "ay"});
  CreateIngestionConfigFlowsResponse response;
  grpc::Status status = Call(&ConfigStub::CreateIngestionConfigFlows, *configs_, create, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), HasSubstr("flow 'imu'"));
  EXPECT_THAT(status.error_message(), HasSubstr("different channels"));
}

TEST_F(ConfigServiceTest, InvalidDeclarationsAreInvalidArgumentNamingWhatIsWrong) {
  CreateIngestionConfigResponse created;
  CreateIngestionConfigRequest no_asset;
  grpc::Status status = Call(&ConfigStub::CreateIngestionConfig, *configs_, no_asset, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("asset_name"));

  CreateIngestionConfigRequest untyped;
  untyped.set_asset_name("rover");
  FlowConfig* flow = untyped.add_flows();
  flow->set_name("imu");
  flow->add_channels()->set_name("ax");
  status = Call(&ConfigStub::CreateIngestionConfig, *configs_, untyped, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("channel 'ax' of flow 'imu'"));

  CreateIngestionConfigRequest unnamed;
  unnamed.set_asset_name("rover");
  *unnamed.add_flows() = Flow("", {"ax"});
  status = Call(&ConfigStub::CreateIngestionConfig, *configs_, unnamed, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("flow has no name"));
  EXPECT_EQ(config_service_.stats().failures, 3);
  EXPECT_EQ(config_service_.stats().injected_failures, 0);
}

TEST_F(ConfigServiceTest, UnsupportedFilterIsInvalidArgument) {
  ListIngestionConfigsRequest list;
  list.set_filter("asset_name == \"rover\"");
  ListIngestionConfigsResponse response;
  grpc::Status status = Call(&ConfigStub::ListIngestionConfigs, *configs_, list, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("asset_name == \"rover\""));
}

TEST_F(ConfigServiceTest, GetReturnsTheCreatedConfigAndUnknownIdIsNotFound) {
  StartUpResult started = StartUp("rover-v1", {});
  ASSERT_TRUE(started.status.ok());
  GetIngestionConfigRequest get;
  get.set_ingestion_config_id(started.config_id);
  GetIngestionConfigResponse response;
  ASSERT_TRUE(Call(&ConfigStub::GetIngestionConfig, *configs_, get, &response).ok());
  EXPECT_EQ(response.ingestion_config().client_key(), "rover-v1");
  EXPECT_EQ(response.ingestion_config().asset_id(), *registry_.FindAssetId("rover"));
  get.set_ingestion_config_id("00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(Call(&ConfigStub::GetIngestionConfig, *configs_, get, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ConfigServiceTest, FlowsOfAnUnknownConfigAreNotFound) {
  CreateIngestionConfigFlowsRequest create;
  create.set_ingestion_config_id("no-such-config");
  *create.add_flows() = Flow("imu", {"ax"});
  CreateIngestionConfigFlowsResponse created;
  EXPECT_EQ(Call(&ConfigStub::CreateIngestionConfigFlows, *configs_, create, &created).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ListIngestionConfigFlowsRequest list;
  list.set_ingestion_config_id("no-such-config");
  ListIngestionConfigFlowsResponse listed;
  EXPECT_EQ(Call(&ConfigStub::ListIngestionConfigFlows, *configs_, list, &listed).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace sift_stream::testing
