// RowMapper: the header decides the channels; rows become messages with Empty() for gaps.
#include "tools/stream/row_mapper.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sift_stream::tools {
namespace {

using sift::ingestion_configs::v2::FlowConfig;
using ::testing::HasSubstr;
namespace types = sift::common::type::v1;

FlowConfig Flow(const std::string& name, const std::vector<std::string>& channels) {
  FlowConfig flow;
  flow.set_name(name);
  for (const std::string& channel : channels) {
    auto* config = flow.add_channels();
    config->set_name(channel);
    config->set_data_type(types::CHANNEL_DATA_TYPE_DOUBLE);
  }
  return flow;
}

std::string Error(const absl::StatusOr<RowMapper>& mapper) {
  return mapper.ok() ? "OK" : std::string(mapper.status().message());
}

// "e" for Empty(), else the double.
std::vector<std::string> Values(const RowMessage& message) {
  std::vector<std::string> out;
  for (const engine::ChannelValue& value : message.values) {
    sift::ingest::v1::IngestWithConfigDataChannelValue proto;
    value.CopyTo(&proto);
    out.push_back(proto.has_empty() ? "e" : std::to_string(static_cast<int>(proto.double_())));
  }
  return out;
}

const MappingOptions kSeconds{"time", "", TimeUnit::kSeconds};

TEST(RowMapper, ColumnsInAnyOrderAndMissingChannelsAreEmpty) {
  auto mapper = RowMapper::Create({Flow("imu", {"ax", "ay", "az"})}, {"az", "time", "ax"}, kSeconds);
  ASSERT_TRUE(mapper.ok()) << mapper.status();
  absl::Time t;
  std::vector<RowMessage> messages;
  ASSERT_TRUE(mapper->Map({"3", "10", "1"}, &t, &messages).ok());
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(*messages[0].flow, "imu");
  EXPECT_THAT(Values(messages[0]), ::testing::ElementsAre("1", "e", "3"));
  EXPECT_EQ(t, absl::FromUnixSeconds(10));
}

TEST(RowMapper, EmptyCellIsAnAbsentValueAndAllEmptySendsNothing) {
  auto mapper = RowMapper::Create({Flow("imu", {"ax", "ay"})}, {"time", "ax", "ay"}, kSeconds);
  ASSERT_TRUE(mapper.ok());
  absl::Time t;
  std::vector<RowMessage> messages;
  ASSERT_TRUE(mapper->Map({"1", "", "2"}, &t, &messages).ok());
  EXPECT_THAT(Values(messages[0]), ::testing::ElementsAre("e", "2"));
  ASSERT_TRUE(mapper->Map({"1", "", ""}, &t, &messages).ok());
  EXPECT_TRUE(messages.empty());
}

TEST(RowMapper, QualifiedColumnsFeedSeveralFlowsFromOneRow) {
  auto mapper = RowMapper::Create({Flow("imu", {"ax"}), Flow("gps", {"lat", "lon"})},
                                  {"time", "imu.ax", "gps.lon"}, kSeconds);
  ASSERT_TRUE(mapper.ok()) << mapper.status();
  absl::Time t;
  std::vector<RowMessage> messages;
  ASSERT_TRUE(mapper->Map({"1", "5", "7"}, &t, &messages).ok());
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(*messages[0].flow, "imu");
  EXPECT_EQ(*messages[1].flow, "gps");
  EXPECT_THAT(Values(messages[1]), ::testing::ElementsAre("e", "7"));
}

TEST(RowMapper, ChannelNameWithDotsBeatsTheFlowPrefixReading) {
  auto mapper = RowMapper::Create({Flow("imu", {"imu.ax", "ax"})}, {"time", "imu.ax"}, kSeconds);
  ASSERT_TRUE(mapper.ok());
  absl::Time t;
  std::vector<RowMessage> messages;
  ASSERT_TRUE(mapper->Map({"1", "4"}, &t, &messages).ok());
  EXPECT_THAT(Values(messages[0]), ::testing::ElementsAre("4", "e"));
}

TEST(RowMapper, HeaderMistakesAreRefusedBeforeAnyRow) {
  const std::vector<FlowConfig> one = {Flow("imu", {"ax"})};
  EXPECT_THAT(Error(RowMapper::Create(one, {"time", "axx"}, kSeconds)),
              HasSubstr("column 'axx' is not a channel of flow 'imu'"));
  EXPECT_THAT(Error(RowMapper::Create(one, {"t", "ax"}, kSeconds)), HasSubstr("no time column"));
  EXPECT_THAT(Error(RowMapper::Create(one, {"time", "ax", "imu.ax"}, kSeconds)),
              HasSubstr("already feeds"));
  EXPECT_THAT(Error(RowMapper::Create(one, {"time"}, kSeconds)), HasSubstr("no channel columns"));
  EXPECT_THAT(Error(RowMapper::Create(one, {"time", "ax"}, {"time", "gps", TimeUnit::kSeconds})),
              HasSubstr("--flow=gps"));
}

TEST(RowMapper, PlainNamesNeedFlowWhenTheConfigHasSeveral) {
  const std::vector<FlowConfig> two = {Flow("imu", {"ax"}), Flow("gps", {"lat"})};
  EXPECT_THAT(Error(RowMapper::Create(two, {"time", "ax"}, kSeconds)), HasSubstr("--flow"));
  EXPECT_EQ(Error(RowMapper::Create(two, {"time", "lat"}, {"time", "gps", TimeUnit::kSeconds})),
            "OK");
}

TEST(RowMapper, BadRowErrorsNameTheColumn) {
  auto mapper = RowMapper::Create({Flow("imu", {"ax"})}, {"time", "ax"}, kSeconds);
  ASSERT_TRUE(mapper.ok());
  absl::Time t;
  std::vector<RowMessage> messages;
  absl::Status bad = mapper->Map({"1", "x"}, &t, &messages);
  EXPECT_EQ(bad.message(), "column 'ax': channel 'ax' (double): 'x' is not a double");
  EXPECT_THAT(std::string(mapper->Map({"1"}, &t, &messages).message()),
              HasSubstr("the row has 1 cells, the header 2"));
  EXPECT_THAT(std::string(mapper->Map({"soon", "1"}, &t, &messages).message()),
              HasSubstr("time 'soon'"));
}

}  // namespace
}  // namespace sift_stream::tools
