// Cells to times and typed values: each test pins a way a replay could send wrong data.
#include "tools/stream/cell_parsers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sift_stream::tools {
namespace {

using sift::ingest::v1::IngestWithConfigDataChannelValue;
using sift::ingestion_configs::v2::ChannelConfig;
namespace types = sift::common::type::v1;

ChannelConfig Channel(types::ChannelDataType type) {
  ChannelConfig channel;
  channel.set_name("c");
  channel.set_data_type(type);
  return channel;
}

IngestWithConfigDataChannelValue Parsed(absl::string_view cell, const ChannelConfig& channel) {
  absl::StatusOr<engine::ChannelValue> value = ParseValueCell(cell, channel);
  EXPECT_TRUE(value.ok()) << value.status();
  IngestWithConfigDataChannelValue proto;
  if (value.ok()) value->CopyTo(&proto);
  return proto;
}

bool Refused(absl::string_view cell, const ChannelConfig& channel) {
  return !ParseValueCell(cell, channel).ok();
}

TEST(ParseTimeCell, Rfc3339KeepsNanosecondsAndOffset) {
  absl::StatusOr<absl::Time> t = ParseTimeCell("2024-05-01T14:00:00.123456789+02:00",
                                               TimeUnit::kUnset);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(absl::ToUnixNanos(*t), 1714564800123456789);
}

TEST(ParseTimeCell, EpochUnitsScaleExactly) {
  EXPECT_EQ(absl::ToUnixNanos(*ParseTimeCell("1714564800", TimeUnit::kSeconds)),
            1714564800000000000);
  EXPECT_EQ(absl::ToUnixNanos(*ParseTimeCell("1714564800123", TimeUnit::kMillis)),
            1714564800123000000);
  EXPECT_EQ(absl::ToUnixNanos(*ParseTimeCell("1714564800123456", TimeUnit::kMicros)),
            1714564800123456000);
  EXPECT_EQ(absl::ToUnixNanos(*ParseTimeCell("1714564800123456789", TimeUnit::kNanos)),
            1714564800123456789);
}

TEST(ParseTimeCell, FractionalSecondsAreNotRoundedThroughDouble) {
  // As a double, 1714564800.123456789 s is off by ~100 ns.
  EXPECT_EQ(absl::ToUnixNanos(*ParseTimeCell("1714564800.123456789", TimeUnit::kSeconds)),
            1714564800123456789);
  EXPECT_EQ(absl::ToUnixNanos(*ParseTimeCell("-1.5", TimeUnit::kSeconds)), -1500000000);
}

TEST(ParseTimeCell, NumberWithoutUnitIsRefusedNotGuessed) {
  absl::StatusOr<absl::Time> t = ParseTimeCell("1714564800000", TimeUnit::kUnset);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), ::testing::HasSubstr("--time_unit"));
}

TEST(ParseTimeCell, OutOfRangeAndGarbageAreRefused) {
  EXPECT_FALSE(ParseTimeCell("99999999999", TimeUnit::kSeconds).ok());  // Year ~5138: > int64 ns.
  EXPECT_FALSE(ParseTimeCell("1.2.3", TimeUnit::kSeconds).ok());
  EXPECT_FALSE(ParseTimeCell("yesterday", TimeUnit::kSeconds).ok());
  EXPECT_FALSE(ParseTimeCell("2024-05-01 14:00:00", TimeUnit::kUnset).ok());  // No zone.
  EXPECT_FALSE(ParseTimeCell("", TimeUnit::kSeconds).ok());
}

TEST(ParseTimeUnit, UnknownUnitIsAUsageError) {
  EXPECT_FALSE(ParseTimeUnit("sec").ok());
  EXPECT_EQ(*ParseTimeUnit("ms"), TimeUnit::kMillis);
}

TEST(ParseValueCell, NumbersFollowTheChannelTypeNotTheCell) {
  EXPECT_EQ(Parsed("1", Channel(types::CHANNEL_DATA_TYPE_DOUBLE)).double_(), 1.0);
  EXPECT_EQ(Parsed(" 2.5 ", Channel(types::CHANNEL_DATA_TYPE_FLOAT)).float_(), 2.5f);
  EXPECT_EQ(Parsed("-7", Channel(types::CHANNEL_DATA_TYPE_INT_32)).int32(), -7);
  EXPECT_EQ(Parsed("4294967295", Channel(types::CHANNEL_DATA_TYPE_UINT_32)).uint32(), 4294967295u);
  EXPECT_EQ(Parsed("-9000000000", Channel(types::CHANNEL_DATA_TYPE_INT_64)).int64(),
            -9000000000);
  EXPECT_EQ(Parsed("18446744073709551615", Channel(types::CHANNEL_DATA_TYPE_UINT_64)).uint64(),
            18446744073709551615u);
}

TEST(ParseValueCell, OverflowAndFractionsAreRefusedNotTruncated) {
  EXPECT_TRUE(Refused("2147483648", Channel(types::CHANNEL_DATA_TYPE_INT_32)));
  EXPECT_TRUE(Refused("-1", Channel(types::CHANNEL_DATA_TYPE_UINT_32)));
  EXPECT_TRUE(Refused("1.5", Channel(types::CHANNEL_DATA_TYPE_INT_64)));
  EXPECT_TRUE(Refused("12abc", Channel(types::CHANNEL_DATA_TYPE_DOUBLE)));
}

TEST(ParseValueCell, BoolAcceptsWordsAndDigitsOnly) {
  EXPECT_TRUE(Parsed("TRUE", Channel(types::CHANNEL_DATA_TYPE_BOOL)).bool_());
  EXPECT_FALSE(Parsed("0", Channel(types::CHANNEL_DATA_TYPE_BOOL)).bool_());
  EXPECT_TRUE(Refused("yes", Channel(types::CHANNEL_DATA_TYPE_BOOL)));
}

TEST(ParseValueCell, StringKeepsSurroundingSpaces) {
  EXPECT_EQ(Parsed(" a, b ", Channel(types::CHANNEL_DATA_TYPE_STRING)).string(), " a, b ");
}

TEST(ParseValueCell, EnumByNameOrDeclaredKeyButNotUnknownKey) {
  ChannelConfig mode = Channel(types::CHANNEL_DATA_TYPE_ENUM);
  auto* idle = mode.add_enum_types();
  idle->set_name("idle");
  idle->set_key(0);
  auto* run = mode.add_enum_types();
  run->set_name("run");
  run->set_key(3);
  EXPECT_EQ(Parsed("run", mode).enum_(), 3u);
  EXPECT_EQ(Parsed("3", mode).enum_(), 3u);
  EXPECT_EQ(Parsed("idle", mode).enum_(), 0u);
  absl::StatusOr<engine::ChannelValue> unknown = ParseValueCell("2", mode);
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()), ::testing::HasSubstr("idle=0, run=3"));
}

TEST(ParseValueCell, BitFieldIsLittleEndianAndSizedByItsElements) {
  ChannelConfig flags = Channel(types::CHANNEL_DATA_TYPE_BIT_FIELD);
  auto* low = flags.add_bit_field_elements();
  low->set_name("low");
  low->set_index(0);
  low->set_bit_count(4);
  auto* high = flags.add_bit_field_elements();
  high->set_name("high");
  high->set_index(4);
  high->set_bit_count(12);  // Bits 4..15: two bytes.
  EXPECT_EQ(Parsed("0x1234", flags).bit_field(), std::string("\x34\x12", 2));
  EXPECT_EQ(Parsed("0b101", flags).bit_field(), std::string("\x05\x00", 2));
  EXPECT_EQ(Parsed("13", flags).bit_field(), std::string("\x0d\x00", 2));
  EXPECT_TRUE(Refused("65536", flags));  // Needs a third byte.
  EXPECT_TRUE(Refused("-1", flags));
}

TEST(ParseValueCell, BytesAreBase64) {
  EXPECT_EQ(Parsed("aGk=", Channel(types::CHANNEL_DATA_TYPE_BYTES)).bytes(), "hi");
  EXPECT_TRUE(Refused("not base64!", Channel(types::CHANNEL_DATA_TYPE_BYTES)));
}

TEST(ParseValueCell, ErrorNamesTheChannelAndItsType) {
  absl::StatusOr<engine::ChannelValue> bad =
      ParseValueCell("abc", Channel(types::CHANNEL_DATA_TYPE_DOUBLE));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "channel 'c' (double): 'abc' is not a double");
}

}  // namespace
}  // namespace sift_stream::tools
