// The --config file: JSON and text format through protobuf's parsers, mistakes caught early.
#include "tools/stream/config_file.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sift_stream::tools {
namespace {

using ::testing::HasSubstr;

std::string Error(absl::string_view text) {
  auto config = ParseStreamConfig(text, "f");
  return config.ok() ? "OK" : std::string(config.status().message());
}

TEST(ParseStreamConfig, JsonWithEnumNamesParses) {
  auto config = ParseStreamConfig(R"({"assetName": "rover", "client_key": "k",
      "flows": [{"name": "imu", "channels": [
        {"name": "ax", "dataType": "CHANNEL_DATA_TYPE_DOUBLE"},
        {"name": "mode", "data_type": "CHANNEL_DATA_TYPE_ENUM",
         "enumTypes": [{"name": "idle", "key": 0}]}]}]})", "f");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->asset_name(), "rover");
  ASSERT_EQ(config->flows_size(), 1);
  EXPECT_EQ(config->flows(0).channels(1).enum_types(0).name(), "idle");
}

TEST(ParseStreamConfig, TextFormatParses) {
  auto config = ParseStreamConfig(R"(
      asset_name: "rover" client_key: "k"
      flows { name: "imu" channels { name: "ax" data_type: CHANNEL_DATA_TYPE_FLOAT } })", "f");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->flows(0).channels(0).data_type(),
            sift::common::type::v1::CHANNEL_DATA_TYPE_FLOAT);
}

TEST(ParseStreamConfig, MisspeltJsonFieldIsAnErrorNotIgnored) {
  EXPECT_THAT(Error(R"({"asset_name": "a", "client_key": "k", "flows": [{"name": "f",
                         "chanels": []}]})"), HasSubstr("f (JSON)"));
}

TEST(ParseStreamConfig, TextFormatErrorSaysWhere) {
  EXPECT_THAT(Error("asset_name: \"a\"\nflows { nme: \"x\" }"), HasSubstr("line 2"));
}

TEST(ParseStreamConfig, MissingPiecesAreSaidAboutTheFile) {
  EXPECT_THAT(Error(R"({"asset_name": "a"})"), HasSubstr("client_key is required"));
  EXPECT_THAT(Error(R"({"asset_name": "a", "client_key": "k"})"), HasSubstr("no flows"));
  EXPECT_THAT(Error(R"({"asset_name": "a", "client_key": "k",
                        "flows": [{"name": "f", "channels": [{"name": "c"}]}]})"),
              HasSubstr("data_type"));
}

}  // namespace
}  // namespace sift_stream::tools
