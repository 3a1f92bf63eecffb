// Registry: ingestion configs, flows, filters and paging. (Runs: registry_run_test.cc.)

#include "testing/registry.h"

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sift_stream::testing {
namespace {

using ::sift::common::type::v1::ChannelDataType;
using ::sift::ingestion_configs::v2::CreateIngestionConfigFlowsRequest;
using ::sift::ingestion_configs::v2::CreateIngestionConfigRequest;
using ::sift::ingestion_configs::v2::FlowConfig;
using ::sift::ingestion_configs::v2::IngestionConfig;
using ::sift::ingestion_configs::v2::ListIngestionConfigFlowsRequest;
using ::sift::ingestion_configs::v2::ListIngestionConfigsRequest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr ChannelDataType kDouble = ChannelDataType::CHANNEL_DATA_TYPE_DOUBLE;
constexpr ChannelDataType kString = ChannelDataType::CHANNEL_DATA_TYPE_STRING;

FlowConfig Flow(const std::string& name,
                const std::vector<std::pair<std::string, ChannelDataType>>& channels) {
  FlowConfig flow;
  flow.set_name(name);
  for (const auto& [channel_name, type] : channels) {
    auto* channel = flow.add_channels();
    channel->set_name(channel_name);
    channel->set_data_type(type);
  }
  return flow;
}

CreateIngestionConfigRequest ConfigRequest(const std::string& asset,
                                           const std::string& client_key,
                                           const std::vector<FlowConfig>& flows = {}) {
  CreateIngestionConfigRequest request;
  request.set_asset_name(asset);
  request.set_client_key(client_key);
  for (const FlowConfig& flow : flows) *request.add_flows() = flow;
  return request;
}

CreateIngestionConfigFlowsRequest FlowsRequest(const std::string& config_id,
                                               const std::vector<FlowConfig>& flows) {
  CreateIngestionConfigFlowsRequest request;
  request.set_ingestion_config_id(config_id);
  for (const FlowConfig& flow : flows) *request.add_flows() = flow;
  return request;
}

// 8-4-4-4-12 lowercase hex, version 4, RFC 4122 variant.
bool IsUuidV4(const std::string& id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = id[i];
    if (dash != (c == '-')) return false;
    if (!dash && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return id[14] == '4' && std::string("89ab").find(id[19]) != std::string::npos;
}

std::vector<std::string> ClientKeysMatching(const Registry& registry, const std::string& filter) {
  ListIngestionConfigsRequest request;
  request.set_filter(filter);
  auto response = registry.ListIngestionConfigs(request);
  EXPECT_TRUE(response.ok()) << response.status();
  std::vector<std::string> keys;
  if (response.ok()) {
    for (const IngestionConfig& config : response->ingestion_configs()) {
      keys.push_back(config.client_key());
    }
  }
  return keys;
}

std::vector<std::string> FlowNamesMatching(const Registry& registry, const std::string& config_id,
                                           const std::string& filter) {
  ListIngestionConfigFlowsRequest request;
  request.set_ingestion_config_id(config_id);
  request.set_filter(filter);
  auto response = registry.ListFlows(request);
  EXPECT_TRUE(response.ok()) << response.status();
  std::vector<std::string> names;
  if (response.ok()) {
    for (const FlowConfig& flow : response->flows()) names.push_back(flow.name());
  }
  return names;
}

// --- Ingestion configs -------------------------------------------------------------------------

TEST(RegistryTest, ConfigIdsAreUuidsAndEachAssetKeepsOneAssetId) {
  Registry registry;
  auto a = registry.CreateIngestionConfig(ConfigRequest("rover", "a"));
  auto b = registry.CreateIngestionConfig(ConfigRequest("rover", "b"));
  auto c = registry.CreateIngestionConfig(ConfigRequest("lander", "c"));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(IsUuidV4(a->ingestion_config_id())) << a->ingestion_config_id();
  EXPECT_TRUE(IsUuidV4(a->asset_id())) << a->asset_id();
  EXPECT_NE(a->ingestion_config_id(), b->ingestion_config_id());
  EXPECT_EQ(a->asset_id(), b->asset_id());
  EXPECT_NE(a->asset_id(), c->asset_id());
  EXPECT_EQ(registry.FindAssetId("rover"), a->asset_id());
  EXPECT_EQ(registry.FindAssetId("never-named"), std::nullopt);
}

TEST(RegistryTest, ConfigWithoutAssetNameIsInvalidArgument) {
  Registry registry;
  auto config = registry.CreateIngestionConfig(ConfigRequest("", "key"));
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("asset_name"));
}

TEST(RegistryTest, SecondConfigWithTheSameClientKeyIsAlreadyExists) {
  Registry registry;
  ASSERT_TRUE(registry.CreateIngestionConfig(ConfigRequest("rover", "key")).ok());
  auto again = registry.CreateIngestionConfig(ConfigRequest("rover", "key"));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("'key'"));
}

TEST(RegistryTest, ConfigsWithoutClientKeyMayRepeat) {
  Registry registry;
  EXPECT_TRUE(registry.CreateIngestionConfig(ConfigRequest("rover", "")).ok());
  EXPECT_TRUE(registry.CreateIngestionConfig(ConfigRequest("rover", "")).ok());
  EXPECT_EQ(ClientKeysMatching(registry, "").size(), 2u);
}

TEST(RegistryTest, GetConfigReturnsItAndUnknownIdIsNotFound) {
  Registry registry;
  auto created = registry.CreateIngestionConfig(ConfigRequest("rover", "key"));
  ASSERT_TRUE(created.ok());
  auto got = registry.GetIngestionConfig(created->ingestion_config_id());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->client_key(), "key");
  EXPECT_EQ(registry.GetIngestionConfig("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.GetIngestionConfig("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RegistryTest, ConfigFiltersMatchClientKeyOrIdWithEitherQuote) {
  Registry registry;
  auto a = registry.CreateIngestionConfig(ConfigRequest("rover", "a"));
  ASSERT_TRUE(registry.CreateIngestionConfig(ConfigRequest("rover", "b")).ok());
  ASSERT_TRUE(a.ok());
  EXPECT_THAT(ClientKeysMatching(registry, ""), ElementsAre("a", "b"));
  EXPECT_THAT(ClientKeysMatching(registry, "client_key == \"b\""), ElementsAre("b"));
  EXPECT_THAT(ClientKeysMatching(registry, "  client_key=='a'  "), ElementsAre("a"));
  EXPECT_THAT(ClientKeysMatching(registry, "client_key == \"zzz\""), ElementsAre());
  EXPECT_THAT(ClientKeysMatching(
                  registry, absl::StrCat("ingestion_config_id == '", a->ingestion_config_id(), "'")),
              ElementsAre("a"));
}

TEST(RegistryTest, UnsupportedConfigFilterIsInvalidArgumentNamingIt) {
  Registry registry;
  ListIngestionConfigsRequest request;
  request.set_filter("asset_id == \"x\"");
  auto response = registry.ListIngestionConfigs(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(response.status().message(), HasSubstr("asset_id == \"x\""));
  EXPECT_THAT(response.status().message(), HasSubstr("client_key, ingestion_config_id"));
}

TEST(RegistryTest, PagesVisitEveryConfigOnceAndTheLastHasNoToken) {
  Registry registry;
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(registry.CreateIngestionConfig(ConfigRequest("rover", absl::StrCat(i))).ok());
  }
  std::vector<std::string> seen;
  std::vector<int> page_sizes;
  ListIngestionConfigsRequest request;
  request.set_page_size(3);
  do {
    auto page = registry.ListIngestionConfigs(request);
    ASSERT_TRUE(page.ok()) << page.status();
    page_sizes.push_back(page->ingestion_configs_size());
    for (const auto& config : page->ingestion_configs()) seen.push_back(config.client_key());
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  EXPECT_THAT(page_sizes, ElementsAre(3, 3, 1));
  EXPECT_THAT(seen, ElementsAre("0", "1", "2", "3", "4", "5", "6"));
}

TEST(RegistryTest, PageTokenNotIssuedByTheServerIsInvalidArgument) {
  Registry registry;
  ListIngestionConfigsRequest request;
  request.set_page_token("not-a-token");
  EXPECT_EQ(registry.ListIngestionConfigs(request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- Flows -------------------------------------------------------------------------------------

TEST(RegistryTest, FlowsOfANewConfigAreFoundByName) {
  Registry registry;
  auto config = registry.CreateIngestionConfig(
      ConfigRequest("rover", "key", {Flow("imu", {{"ax", kDouble}, {"ay", kDouble}})}));
  ASSERT_TRUE(config.ok()) << config.status();
  auto flow = registry.FindFlow(config->ingestion_config_id(), "imu");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->channels_size(), 2);
  EXPECT_EQ(registry.FindFlow(config->ingestion_config_id(), "gps"), nullptr);
  EXPECT_EQ(registry.FindFlow("unknown-config", "imu"), nullptr);
}

TEST(RegistryTest, FlowsForAnUnknownConfigAreNotFound) {
  Registry registry;
  EXPECT_EQ(registry.CreateFlows(FlowsRequest("nope", {Flow("imu", {{"ax", kDouble}})})).code(),
            absl::StatusCode::kNotFound);
  ListIngestionConfigFlowsRequest list;
  list.set_ingestion_config_id("nope");
  EXPECT_EQ(registry.ListFlows(list).status().code(), absl::StatusCode::kNotFound);
}

TEST(RegistryTest, RedeclaringAFlowWithTheSameChannelsIsANoOp) {
  Registry registry;
  const FlowConfig imu = Flow("imu", {{"ax", kDouble}});
  auto config = registry.CreateIngestionConfig(ConfigRequest("rover", "key", {imu}));
  ASSERT_TRUE(config.ok());
  const std::string id = config->ingestion_config_id();
  auto before = registry.FindFlow(id, "imu");
  EXPECT_TRUE(registry.CreateFlows(FlowsRequest(id, {imu, imu})).ok());
  EXPECT_THAT(FlowNamesMatching(registry, id, ""), ElementsAre("imu"));
  EXPECT_EQ(registry.FindFlow(id, "imu"), before);
}

TEST(RegistryTest, RedeclaringAFlowWithOtherChannelsIsAlreadyExistsNamingTheFlow) {
  Registry registry;
  auto config = registry.CreateIngestionConfig(
      ConfigRequest("rover", "key", {Flow("imu", {{"ax", kDouble}})}));
  ASSERT_TRUE(config.ok());
  const std::string id = config->ingestion_config_id();
  absl::Status status =
      registry.CreateFlows(FlowsRequest(id, {Flow("imu", {{"ax", kDouble}, {"ay", kDouble}})}));
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("flow 'imu'"));
  EXPECT_THAT(status.message(), HasSubstr("[ax DOUBLE]"));
  EXPECT_THAT(status.message(), HasSubstr("[ax DOUBLE, ay DOUBLE]"));
  EXPECT_EQ(registry.FindFlow(id, "imu")->channels_size(), 1);
}

TEST(RegistryTest, FlowsDifferingOnlyInUnitsStillConflict) {
  Registry registry;
  FlowConfig metres = Flow("alt", {{"altitude", kDouble}});
  metres.mutable_channels(0)->set_unit("m");
  FlowConfig feet = metres;
  feet.mutable_channels(0)->set_unit("ft");
  auto config = registry.CreateIngestionConfig(ConfigRequest("rover", "key", {metres}));
  ASSERT_TRUE(config.ok());
  absl::Status status = registry.CreateFlows(FlowsRequest(config->ingestion_config_id(), {feet}));
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("units"));
}

TEST(RegistryTest, AConflictingFlowAddsNoneOfTheFlowsInItsRequest) {
  Registry registry;
  auto config = registry.CreateIngestionConfig(
      ConfigRequest("rover", "key", {Flow("imu", {{"ax", kDouble}})}));
  ASSERT_TRUE(config.ok());
  const std::string id = config->ingestion_config_id();
  absl::Status status = registry.CreateFlows(
      FlowsRequest(id, {Flow("gps", {{"lat", kDouble}}), Flow("imu", {{"ax", kString}})}));
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.FindFlow(id, "gps"), nullptr);
}

TEST(RegistryTest, OneFlowNameDeclaredTwiceWithOtherChannelsInOneRequestIsRefused) {
  Registry registry;
  auto config = registry.CreateIngestionConfig(ConfigRequest(
      "rover", "key", {Flow("imu", {{"ax", kDouble}}), Flow("imu", {{"ax", kString}})}));
  EXPECT_EQ(config.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(config.status().message(), HasSubstr("declared twice"));
  EXPECT_THAT(ClientKeysMatching(registry, ""), ElementsAre());
}

TEST(RegistryTest, FlowOrChannelWithoutANameOrTypeIsInvalidArgumentNamingIt) {
  Registry registry;
  auto config = registry.CreateIngestionConfig(ConfigRequest("rover", "key"));
  ASSERT_TRUE(config.ok());
  const std::string id = config->ingestion_config_id();
  const std::vector<std::pair<FlowConfig, std::string>> cases = {
      {Flow("", {{"ax", kDouble}}), "no name"},
      {Flow("imu", {{"", kDouble}}), "channel #0 of flow 'imu'"},
      {Flow("imu", {{"ax", ChannelDataType::CHANNEL_DATA_TYPE_UNSPECIFIED}}),
       "channel 'ax' of flow 'imu'"},
      {Flow("imu", {{"ax", static_cast<ChannelDataType>(99)}}), "channel 'ax' of flow 'imu'"},
  };
  for (const auto& [flow, named] : cases) {
    absl::Status status = registry.CreateFlows(FlowsRequest(id, {flow}));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << named;
    EXPECT_THAT(status.message(), HasSubstr(named));
  }
  EXPECT_THAT(FlowNamesMatching(registry, id, ""), ElementsAre());
}

TEST(RegistryTest, FlowFiltersMatchFlowNameOrName) {
  Registry registry;
  auto config = registry.CreateIngestionConfig(ConfigRequest(
      "rover", "key", {Flow("imu", {{"ax", kDouble}}), Flow("gps", {{"lat", kDouble}})}));
  ASSERT_TRUE(config.ok());
  const std::string id = config->ingestion_config_id();
  EXPECT_THAT(FlowNamesMatching(registry, id, ""), ElementsAre("imu", "gps"));
  EXPECT_THAT(FlowNamesMatching(registry, id, "flow_name == \"gps\""), ElementsAre("gps"));
  EXPECT_THAT(FlowNamesMatching(registry, id, "name == 'imu'"), ElementsAre("imu"));
  ListIngestionConfigFlowsRequest request;
  request.set_ingestion_config_id(id);
  request.set_filter("channel == \"ax\"");
  EXPECT_EQ(registry.ListFlows(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RegistryTest, FoundFlowsStayValidWhileOthersAreAddedConcurrently) {
  Registry registry;
  auto config = registry.CreateIngestionConfig(
      ConfigRequest("rover", "key", {Flow("imu", {{"ax", kDouble}})}));
  ASSERT_TRUE(config.ok());
  const std::string id = config->ingestion_config_id();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> misses{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto flow = registry.FindFlow(id, "imu");
        if (flow == nullptr || flow->channels(0).name() != "ax") misses.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(registry.CreateFlows(FlowsRequest(id, {Flow(absl::StrCat("f", i), {{"c", kDouble}})}))
                    .ok());
  }
  stop = true;
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(misses.load(), 0);
  EXPECT_NE(registry.FindFlow(id, "f499"), nullptr);
}

}  // namespace
}  // namespace sift_stream::testing
