// RunServiceImpl through a real loopback gRPC server and the generated stubs.

#include "testing/run_service.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/service_test_fixture.h"

namespace sift_stream::testing {
namespace {

using ::sift::ingestion_configs::v2::ListIngestionConfigsRequest;
using ::sift::ingestion_configs::v2::ListIngestionConfigsResponse;
using ::sift::runs::v2::CreateAutomaticRunAssociationForAssetsRequest;
using ::sift::runs::v2::CreateAutomaticRunAssociationForAssetsResponse;
using ::sift::runs::v2::CreateRunRequest;
using ::sift::runs::v2::CreateRunResponse;
using ::sift::runs::v2::GetRunRequest;
using ::sift::runs::v2::GetRunResponse;
using ::sift::runs::v2::ListRunsRequest;
using ::sift::runs::v2::ListRunsResponse;
using SiftRun = ::sift::runs::v2::Run;  // Plain `Run` is ::testing::Test::Run inside tests.
using ::sift::runs::v2::StopRunRequest;
using ::sift::runs::v2::StopRunResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RunServiceTest : public ServiceTest {
 protected:
  grpc::Status CreateRun(const std::string& name, std::optional<std::string> client_key,
                         SiftRun* run = nullptr) {
    CreateRunRequest request;
    request.set_name(name);
    if (client_key.has_value()) request.set_client_key(*client_key);
    CreateRunResponse response;
    grpc::Status status = Call(&RunStub::CreateRun, *runs_, request, &response);
    if (run != nullptr) *run = response.run();
    return status;
  }

  grpc::Status ListRuns(const std::string& filter, ListRunsResponse* response,
                        std::optional<std::string> api_key = std::string(kApiKey)) {
    ListRunsRequest request;
    request.set_filter(filter);
    return Call(&RunStub::ListRuns, *runs_, request, response, api_key);
  }

  grpc::Status GetRun(const std::string& run_id, SiftRun* run) {
    GetRunRequest request;
    request.set_run_id(run_id);
    GetRunResponse response;
    grpc::Status status = Call(&RunStub::GetRun, *runs_, request, &response);
    *run = response.run();
    return status;
  }

  grpc::Status StopRun(const std::string& run_id) {
    StopRunRequest request;
    request.set_run_id(run_id);
    StopRunResponse response;
    return Call(&RunStub::StopRun, *runs_, request, &response);
  }

  grpc::Status Associate(const std::string& run_id, const std::vector<std::string>& assets) {
    CreateAutomaticRunAssociationForAssetsRequest request;
    request.set_run_id(run_id);
    for (const std::string& asset : assets) request.add_asset_names(asset);
    CreateAutomaticRunAssociationForAssetsResponse response;
    return Call(&RunStub::CreateAutomaticRunAssociationForAssets, *runs_, request, &response);
  }
};

TEST_F(RunServiceTest, CallWithoutOrWithAWrongApiKeyIsUnauthenticated) {
  ListRunsResponse response;
  EXPECT_EQ(ListRuns("", &response, std::nullopt).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListRuns("", &response, std::string("wrong")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(run_service_.stats().failures, 2);
  EXPECT_EQ(run_service_.stats().injected_failures, 0);
}

TEST_F(RunServiceTest, CreatedRunIsReturnedByGetWithIdAndDates) {
  SiftRun created;
  ASSERT_TRUE(CreateRun("drive", "drive-1", &created).ok());
  EXPECT_FALSE(created.run_id().empty());
  EXPECT_TRUE(created.has_created_date());
  EXPECT_TRUE(created.has_modified_date());
  SiftRun got;
  ASSERT_TRUE(GetRun(created.run_id(), &got).ok());
  EXPECT_EQ(got.name(), "drive");
  EXPECT_EQ(got.client_key(), "drive-1");
  EXPECT_TRUE(registry_.RunExists(created.run_id()));
}

TEST_F(RunServiceTest, CreateRunWithoutNameIsInvalidArgument) {
  grpc::Status status = CreateRun("", std::nullopt);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("name"));
}

TEST_F(RunServiceTest, UnknownRunIsNotFoundForGetStopAndAssociate) {
  SiftRun run;
  EXPECT_EQ(GetRun("no-such-run", &run).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(StopRun("no-such-run").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Associate("no-such-run", {"rover"}).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(RunServiceTest, RunIsFoundByClientKeyAndADuplicateCreateIsAlreadyExists) {
  ListRunsResponse found;
  ASSERT_TRUE(ListRuns("client_key == \"drive-1\"", &found).ok());
  EXPECT_EQ(found.runs_size(), 0);
  SiftRun created;
  ASSERT_TRUE(CreateRun("drive", "drive-1", &created).ok());
  ASSERT_TRUE(CreateRun("other", "drive-2").ok());
  ASSERT_TRUE(ListRuns("client_key == \"drive-1\"", &found).ok());
  ASSERT_EQ(found.runs_size(), 1);
  EXPECT_EQ(found.runs(0).run_id(), created.run_id());
  grpc::Status duplicate = CreateRun("drive", "drive-1");
  EXPECT_EQ(duplicate.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(duplicate.error_message(), HasSubstr("drive-1"));
}

TEST_F(RunServiceTest, StoppedRunHasAStopTime) {
  SiftRun created;
  ASSERT_TRUE(CreateRun("drive", std::nullopt, &created).ok());
  EXPECT_FALSE(created.has_stop_time());
  ASSERT_TRUE(StopRun(created.run_id()).ok());
  SiftRun stopped;
  ASSERT_TRUE(GetRun(created.run_id(), &stopped).ok());
  EXPECT_TRUE(stopped.has_stop_time());
}

TEST_F(RunServiceTest, AssociatedAssetsAppearOnTheRunAsAssetIds) {
  SiftRun created;
  ASSERT_TRUE(CreateRun("drive", std::nullopt, &created).ok());
  ASSERT_TRUE(Associate(created.run_id(), {"rover", "lander"}).ok());
  SiftRun associated;
  ASSERT_TRUE(GetRun(created.run_id(), &associated).ok());
  EXPECT_THAT(associated.asset_ids(),
              ElementsAre(*registry_.FindAssetId("rover"), *registry_.FindAssetId("lander")));
}

TEST_F(RunServiceTest, UnaryFailureBudgetIsSharedWithTheConfigService) {
  FaultPlan plan;
  plan.fail_unary_count = 2;
  plan.fail_unary_code = grpc::StatusCode::INTERNAL;
  SetFaults(plan);
  ListIngestionConfigsResponse configs;
  EXPECT_EQ(Call(&ConfigStub::ListIngestionConfigs, *configs_, ListIngestionConfigsRequest(),
                 &configs)
                .error_code(),
            grpc::StatusCode::INTERNAL);
  EXPECT_EQ(CreateRun("drive", "k").error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_TRUE(CreateRun("drive", "k").ok());
  EXPECT_EQ(run_service_.stats().calls, 2);
  EXPECT_EQ(run_service_.stats().injected_failures, 1);
  EXPECT_EQ(config_service_.stats().injected_failures, 1);
}

TEST_F(RunServiceTest, RejectAllRefusesEveryRunMethod) {
  SiftRun created;
  ASSERT_TRUE(CreateRun("drive", std::nullopt, &created).ok());
  FaultPlan plan;
  plan.reject_all_code = grpc::StatusCode::PERMISSION_DENIED;
  SetFaults(plan);
  ListRunsResponse listed;
  SiftRun got;
  const std::vector<grpc::Status> statuses = {
      CreateRun("drive", std::nullopt), GetRun(created.run_id(), &got), ListRuns("", &listed),
      StopRun(created.run_id()), Associate(created.run_id(), {"rover"})};
  for (const grpc::Status& status : statuses) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  }
  EXPECT_FALSE(registry_.GetRun(created.run_id())->has_stop_time());
}

}  // namespace
}  // namespace sift_stream::testing
