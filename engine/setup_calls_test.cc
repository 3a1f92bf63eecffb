#include "engine/setup_calls.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "gtest/gtest.h"
#include "testing/fake_sift.h"

namespace sift_stream::engine {
namespace {

using sift_stream::testing::FakeSift;
using sift_stream::testing::FakeSiftOptions;
using sift_stream::testing::FaultPlan;
namespace configs = sift::ingestion_configs::v2;

configs::FlowConfig Flow(const std::string& name, const std::vector<std::string>& channels) {
  configs::FlowConfig flow;
  flow.set_name(name);
  for (const auto& channel : channels) {
    auto* c = flow.add_channels();
    c->set_name(channel);
    c->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);
  }
  return flow;
}

class SetupCallsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeSiftOptions options;
    options.api_keys = {"key"};
    sift_ = std::move(FakeSift::Start(options)).value();
    channel_ = grpc::CreateChannel(sift_->address(), grpc::InsecureChannelCredentials());
    spec_.asset_name = "rover";
    spec_.client_key = "rover-v1";
    spec_.flows = {Flow("imu", {"ax", "ay"}), Flow("gps", {"lat", "lon"})};
    run_.kind = RunSpec::Kind::kByClientKey;
    run_.client_key = "drive-42";
    run_.name = "Drive 42";
    options_.api_key = "key";
    options_.retry.initial_backoff = absl::Milliseconds(1);
  }

  absl::StatusOr<SetupResult> RunSetup() { return RunSetupCalls(channel_, spec_, run_, options_); }

  std::unique_ptr<FakeSift> sift_;
  std::shared_ptr<grpc::Channel> channel_;
  IngestionConfigSpec spec_;
  RunSpec run_;
  SetupOptions options_;
};

TEST_F(SetupCallsTest, FirstStartCreatesAndARestartFindsTheSameConfigAndRun) {
  auto first = RunSetup();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->ingestion_config_id.empty());
  EXPECT_FALSE(first->run_id.empty());
  EXPECT_NE(sift_->registry().FindFlow(first->ingestion_config_id, "gps"), nullptr);
  auto second = RunSetup();  // A restarted process.
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->ingestion_config_id, first->ingestion_config_id);
  EXPECT_EQ(second->run_id, first->run_id);
}

TEST_F(SetupCallsTest, FlowDeclaredAfterARestartIsCreated) {
  auto first = RunSetup();
  ASSERT_TRUE(first.ok()) << first.status();
  spec_.flows.push_back(Flow("power", {"volts"}));
  auto second = RunSetup();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(sift_->registry().FindFlow(first->ingestion_config_id, "power"), nullptr);
}

TEST_F(SetupCallsTest, FlowRedeclaredWithOtherChannelsIsAClearError) {
  ASSERT_TRUE(RunSetup().ok());
  spec_.flows[0] = Flow("imu", {"ax", "ay", "az"});
  auto second = RunSetup();
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  EXPECT_NE(second.status().message().find("flow 'imu'"), absl::string_view::npos);
}

TEST_F(SetupCallsTest, RetryableFailuresAreRetried) {
  FaultPlan plan;
  plan.fail_unary_count = 3;
  plan.fail_unary_code = grpc::StatusCode::UNAVAILABLE;
  sift_->SetFaults(plan);
  auto result = RunSetup();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->retries, 3);
}

TEST_F(SetupCallsTest, RetryBudgetIsRespected) {
  FaultPlan plan;
  plan.fail_unary_count = 100;
  sift_->SetFaults(plan);
  options_.retry.max_attempts = 3;
  auto result = RunSetup();
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::IsUnavailable(result.status())) << result.status();
  EXPECT_NE(result.status().message().find("after 3 attempt"), absl::string_view::npos);
}

TEST_F(SetupCallsTest, NonRetryableRefusalFailsAtOnceNamingTheCall) {
  FaultPlan plan;
  plan.reject_all_code = grpc::StatusCode::PERMISSION_DENIED;
  sift_->SetFaults(plan);
  auto result = RunSetup();
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(result.status())) << result.status();
  EXPECT_NE(result.status().message().find("ListIngestionConfigs"), absl::string_view::npos);
  EXPECT_EQ(sift_->Stats().ingestion_config_calls.calls, 1);
}

TEST_F(SetupCallsTest, WrongApiKeyIsUnauthenticated) {
  options_.api_key = "wrong";
  auto result = RunSetup();
  EXPECT_TRUE(absl::IsUnauthenticated(result.status())) << result.status();
}

TEST_F(SetupCallsTest, IncompleteSpecIsInvalidArgumentBeforeAnyCall) {
  spec_.client_key.clear();
  EXPECT_TRUE(absl::IsInvalidArgument(RunSetup().status()));
  EXPECT_EQ(sift_->Stats().ingestion_config_calls.calls, 0);
}

TEST_F(SetupCallsTest, NewRunEachTimeWhenAskedForANewRun) {
  run_.kind = RunSpec::Kind::kNew;
  auto first = RunSetup();
  auto second = RunSetup();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->run_id, second->run_id);
}

}  // namespace
}  // namespace sift_stream::engine
