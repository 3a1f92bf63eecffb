// Registry: runs and their asset associations. (Configs and flows: registry_test.cc.)

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/registry.h"  // IWYU pragma: associated

namespace sift_stream::testing {
namespace {

using ::sift::ingestion_configs::v2::CreateIngestionConfigRequest;
using ::sift::runs::v2::CreateAutomaticRunAssociationForAssetsRequest;
using ::sift::runs::v2::CreateRunRequest;
using ::sift::runs::v2::ListRunsRequest;
using SiftRun = ::sift::runs::v2::Run;  // Plain `Run` is ::testing::Test::Run inside tests.
using ::testing::ElementsAre;

CreateRunRequest RunRequest(const std::string& name, std::optional<std::string> client_key = {}) {
  CreateRunRequest request;
  request.set_name(name);
  if (client_key.has_value()) request.set_client_key(*client_key);
  return request;
}

TEST(RegistryRunTest, CreatedRunHasIdDatesAndTheGivenStartTime) {
  Registry registry;
  CreateRunRequest request = RunRequest("drive", "run-key");
  request.mutable_start_time()->set_seconds(1700000000);
  request.add_tags("nightly");
  auto run = registry.CreateRun(request);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_FALSE(run->run_id().empty());
  EXPECT_GT(run->created_date().seconds(), 1700000000);
  EXPECT_EQ(run->modified_date().seconds(), run->created_date().seconds());
  EXPECT_EQ(run->start_time().seconds(), 1700000000);
  EXPECT_FALSE(run->has_stop_time());
  EXPECT_EQ(run->client_key(), "run-key");
  EXPECT_THAT(run->tags(), ElementsAre("nightly"));
  EXPECT_TRUE(registry.RunExists(run->run_id()));
  auto got = registry.GetRun(run->run_id());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name(), "drive");
}

TEST(RegistryRunTest, RunWithoutStartTimeOrClientKeyLeavesThemUnset) {
  Registry registry;
  auto run = registry.CreateRun(RunRequest("drive"));
  ASSERT_TRUE(run.ok());
  EXPECT_FALSE(run->has_start_time());
  EXPECT_FALSE(run->has_client_key());
}

TEST(RegistryRunTest, RunWithoutNameIsInvalidArgument) {
  Registry registry;
  EXPECT_EQ(registry.CreateRun(RunRequest("")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RegistryRunTest, SecondRunWithTheSameClientKeyIsAlreadyExists) {
  Registry registry;
  ASSERT_TRUE(registry.CreateRun(RunRequest("drive", "k")).ok());
  EXPECT_EQ(registry.CreateRun(RunRequest("drive", "k")).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(registry.CreateRun(RunRequest("drive")).ok());
  EXPECT_TRUE(registry.CreateRun(RunRequest("drive")).ok());
}

TEST(RegistryRunTest, UnknownRunIsNotFoundEverywhere) {
  Registry registry;
  EXPECT_EQ(registry.GetRun("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.StopRun("nope").code(), absl::StatusCode::kNotFound);
  CreateAutomaticRunAssociationForAssetsRequest associate;
  associate.set_run_id("nope");
  associate.add_asset_names("rover");
  EXPECT_EQ(registry.AssociateAssets(associate).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(registry.RunExists("nope"));
}

TEST(RegistryRunTest, RunFiltersMatchClientKeyNameOrRunId) {
  Registry registry;
  auto a = registry.CreateRun(RunRequest("drive", "a"));
  auto b = registry.CreateRun(RunRequest("park", "b"));
  ASSERT_TRUE(a.ok() && b.ok());
  auto names = [&](const std::string& filter) {
    ListRunsRequest request;
    request.set_filter(filter);
    auto response = registry.ListRuns(request);
    EXPECT_TRUE(response.ok()) << response.status();
    std::vector<std::string> out;
    for (const SiftRun& run : response->runs()) out.push_back(run.name());
    return out;
  };
  EXPECT_THAT(names(""), ElementsAre("drive", "park"));
  EXPECT_THAT(names("client_key == \"b\""), ElementsAre("park"));
  EXPECT_THAT(names("name == 'drive'"), ElementsAre("drive"));
  EXPECT_THAT(names(absl::StrCat("run_id == \"", b->run_id(), "\"")), ElementsAre("park"));
  ListRunsRequest bad;
  bad.set_filter("start_time > 0");
  EXPECT_EQ(registry.ListRuns(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RegistryRunTest, StoppingARunSetsItsStopTimeOnce) {
  Registry registry;
  auto run = registry.CreateRun(RunRequest("drive"));
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(registry.StopRun(run->run_id()).ok());
  auto stopped = registry.GetRun(run->run_id());
  ASSERT_TRUE(stopped.ok());
  ASSERT_TRUE(stopped->has_stop_time());
  EXPECT_GE(stopped->stop_time().seconds(), run->created_date().seconds());
  ASSERT_TRUE(registry.StopRun(run->run_id()).ok());
  auto again = registry.GetRun(run->run_id());
  EXPECT_EQ(again->stop_time().SerializeAsString(), stopped->stop_time().SerializeAsString());
}

TEST(RegistryRunTest, AssociatedAssetsAreRecordedOnceWithTheirConfigAssetIds) {
  Registry registry;
  CreateIngestionConfigRequest config_request;
  config_request.set_asset_name("rover");
  auto config = registry.CreateIngestionConfig(config_request);
  auto run = registry.CreateRun(RunRequest("drive"));
  ASSERT_TRUE(config.ok() && run.ok());
  CreateAutomaticRunAssociationForAssetsRequest request;
  request.set_run_id(run->run_id());
  request.add_asset_names("rover");
  request.add_asset_names("lander");
  request.add_asset_names("rover");
  ASSERT_TRUE(registry.AssociateAssets(request).ok());
  ASSERT_TRUE(registry.AssociateAssets(request).ok());
  auto associated = registry.GetRun(run->run_id());
  ASSERT_TRUE(associated.ok());
  EXPECT_THAT(associated->asset_ids(),
              ElementsAre(config->asset_id(), *registry.FindAssetId("lander")));
}

TEST(RegistryRunTest, EmptyAssetNameIsInvalidArgumentAndAssociatesNothing) {
  Registry registry;
  auto run = registry.CreateRun(RunRequest("drive"));
  ASSERT_TRUE(run.ok());
  CreateAutomaticRunAssociationForAssetsRequest request;
  request.set_run_id(run->run_id());
  request.add_asset_names("rover");
  request.add_asset_names("");
  EXPECT_EQ(registry.AssociateAssets(request).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.GetRun(run->run_id())->asset_ids_size(), 0);
}

}  // namespace
}  // namespace sift_stream::testing
