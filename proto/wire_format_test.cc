// Wire-format tests for proto/: our .proto files must encode exactly like Sift's public API, as
// tabled in ../shared/spec/wire.md (packages, message names, field numbers and types).
//
// Two independent checks:
//  1. Byte tests. Each message is filled in, serialized, and compared with bytes written out by
//     hand below from the spec table: one comment per field with the field number, the wire type
//     and the value; every tag byte is (field_number << 3) | wire_type. Wire types: 0 VARINT,
//     1 I64, 2 LEN, 5 I32. The hand bytes are also parsed back and compared with the message.
//     proto3 C++ serialization writes known fields in field-number order, so the order is fixed.
//  2. Descriptor tests. Every field in the spec is looked up by name in the message's full
//     (package-qualified) name, and its number, type and arity are asserted.
// A renumbered field, a changed type, a renamed package or a dropped `optional`/`oneof` fails
// at least one of them.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/sift/common/type/v1/channel_bit_field_element.pb.h"
#include "proto/sift/common/type/v1/channel_data_type.pb.h"
#include "proto/sift/common/type/v1/channel_enum_type.pb.h"
#include "proto/sift/ingest/v1/ingest.pb.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"
#include "proto/sift/runs/v2/runs.pb.h"

namespace {

using Bytes = std::vector<uint8_t>;
using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

namespace common = sift::common::type::v1;
namespace ingest = sift::ingest::v1;
namespace configs = sift::ingestion_configs::v2;
namespace runs = sift::runs::v2;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

constexpr size_t kHexRowBytes = 16;

// One row of a hex dump: `kHexRowBytes` cells of "xx ", "-- " past the end of a shorter buffer
// when the other one still has bytes there.
std::string HexRow(const std::string& bytes, size_t row_start, size_t total_size) {
  std::string row;
  char cell[8];
  for (size_t i = row_start; i < row_start + kHexRowBytes; ++i) {
    if (i < bytes.size()) {
      std::snprintf(cell, sizeof(cell), "%02x ", static_cast<uint8_t>(bytes[i]));
      row += cell;
    } else {
      row += (i < total_size) ? "-- " : "   ";
    }
  }
  return row;
}

// A side-by-side hex dump of what Sift expects and what we serialized; rows that differ are
// followed by a line of ^^ under each differing byte.
std::string HexDiff(const std::string& expected, const std::string& actual) {
  const size_t total = std::max(expected.size(), actual.size());
  const auto first = std::mismatch(expected.begin(), expected.end(), actual.begin(),
                                   actual.end());
  const size_t first_diff = static_cast<size_t>(first.first - expected.begin());
  std::ostringstream out;
  out << "expected " << expected.size() << " bytes, serialized " << actual.size()
      << " bytes; first difference at offset " << first_diff << "\n";
  out << "offset  " << std::string("expected").append(3 * kHexRowBytes - 8, ' ') << "   actual\n";
  for (size_t start = 0; start < total; start += kHexRowBytes) {
    char offset[32];
    std::snprintf(offset, sizeof(offset), "%06zx  ", start);
    out << offset << HexRow(expected, start, total) << "   " << HexRow(actual, start, total);
    std::string marks;
    bool row_differs = false;
    for (size_t i = start; i < start + kHexRowBytes; ++i) {
      const bool in_expected = i < expected.size();
      const bool in_actual = i < actual.size();
      const bool differs = in_expected != in_actual || (in_expected && expected[i] != actual[i]);
      row_differs = row_differs || differs;
      marks += differs ? "^^ " : "   ";
    }
    out << (row_differs ? "  <-- differs\n        " + marks + "   " + marks + "\n" : "\n");
  }
  return out.str();
}

std::string AsString(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

// Serializing `message` must give exactly `expected`.
::testing::AssertionResult EncodesTo(const Message& message, const Bytes& expected) {
  std::string actual;
  if (!message.SerializeToString(&actual)) {
    return ::testing::AssertionFailure() << message.GetTypeName() << " failed to serialize";
  }
  const std::string want = AsString(expected);
  if (actual == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << message.GetTypeName() << " does not encode like Sift's:\n"
         << HexDiff(want, actual) << "message: " << message.ShortDebugString();
}

// Parsing `expected` must give a message equal to `message`, with no unknown fields (an unknown
// field would mean Sift's field number is not the one we declared).
::testing::AssertionResult DecodesTo(const Bytes& expected, const Message& message) {
  std::unique_ptr<Message> parsed(message.New());
  if (!parsed->ParseFromString(AsString(expected))) {
    return ::testing::AssertionFailure()
           << "Sift's bytes do not parse as " << message.GetTypeName();
  }
  MessageDifferencer differencer;
  std::string report;
  differencer.ReportDifferencesToString(&report);
  if (differencer.Compare(message, *parsed)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "Sift's bytes parse as a different " << message.GetTypeName() << ":\n"
         << report << "parsed: " << parsed->ShortDebugString();
}

void SetTimestamp(google::protobuf::Timestamp* timestamp, int64_t seconds, int32_t nanos) {
  timestamp->set_seconds(seconds);
  timestamp->set_nanos(nanos);
}

// ---------------------------------------------------------------------------------------------
// sift.ingest.v1
// ---------------------------------------------------------------------------------------------

ingest::IngestWithConfigDataStreamRequest IngestRequestWithEveryValueKind() {
  ingest::IngestWithConfigDataStreamRequest request;
  request.set_ingestion_config_id("cfg-1");
  request.set_flow("main");
  SetTimestamp(request.mutable_timestamp(), 1700000000, 500);
  request.add_channel_values()->set_string("on");
  request.add_channel_values()->set_double_(1.5);
  request.add_channel_values()->set_float_(0.25f);
  request.add_channel_values()->set_bool_(true);
  request.add_channel_values()->set_int32(-2);
  request.add_channel_values()->set_uint32(4000000000u);
  request.add_channel_values()->set_int64(int64_t{1} << 40);
  request.add_channel_values()->set_uint64(std::numeric_limits<uint64_t>::max());
  request.add_channel_values()->set_bit_field(std::string("\x05\xa0", 2));
  request.add_channel_values()->set_enum_(3);
  request.add_channel_values()->mutable_empty();
  request.add_channel_values()->set_bytes(std::string("\x00\xff\x10", 3));
  request.set_run_id("run-7");
  request.set_end_stream_on_validation_error(true);
  request.set_organization_id("org-9");
  return request;
}

// Hand-encoded from wire.md. Each channel value is a LEN field 4 (tag 0x22) wrapping one
// IngestWithConfigDataChannelValue whose oneof member is the only field inside.
const Bytes kIngestRequestWithEveryValueKind = {
    0x0a, 0x05, 'c', 'f', 'g', '-', '1',  // 1 ingestion_config_id (1, LEN) 1<<3|2=0x0a: "cfg-1"
    0x12, 0x04, 'm', 'a', 'i', 'n',       // 2 flow (2, LEN) 2<<3|2=0x12: "main"
    0x1a, 0x09,                           // 3 timestamp (3, LEN) 3<<3|2=0x1a: 9 bytes {
    0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06,   //   1 seconds (1, VARINT) 0x08: 1700000000 = 0x6553f100
                                          //     7-bit groups low first: 00 62 4f 2a 06
    0x10, 0xf4, 0x03,                     //   2 nanos (2, VARINT) 0x10: 500 = 0x1f4 -> 74|80, 03 }
    0x22, 0x04,                           // 4 channel_values[0] (4, LEN) 4<<3|2=0x22: 4 bytes {
    0x0a, 0x02, 'o', 'n',                 //   1 string (1, LEN) 0x0a: "on" }
    0x22, 0x09,                           // 4 channel_values[1]: 9 bytes {
    0x11, 0x00, 0x00, 0x00, 0x00,         //   2 double (2, I64) 2<<3|1=0x11: 1.5 =
    0x00, 0x00, 0xf8, 0x3f,               //     0x3ff8000000000000, little-endian }
    0x22, 0x05,                           // 4 channel_values[2]: 5 bytes {
    0x1d, 0x00, 0x00, 0x80, 0x3e,         //   3 float (3, I32) 3<<3|5=0x1d: 0.25f = 0x3e800000 LE }
    0x22, 0x02,                           // 4 channel_values[3]: 2 bytes {
    0x20, 0x01,                           //   4 bool (4, VARINT) 4<<3|0=0x20: true }
    0x22, 0x0b,                           // 4 channel_values[4]: 11 bytes {
    0x28, 0xfe, 0xff, 0xff, 0xff, 0xff,   //   5 int32 (5, VARINT) 5<<3=0x28: -2, sign-extended to
    0xff, 0xff, 0xff, 0xff, 0x01,         //     64 bits = 2^64-2: fe, 8 x ff, 01 (10 bytes) }
    0x22, 0x06,                           // 4 channel_values[5]: 6 bytes {
    0x30, 0x80, 0xd0, 0xac, 0xf3, 0x0e,   //   6 uint32 (6, VARINT) 6<<3=0x30: 4000000000 =
                                          //     0xee6b2800, 7-bit groups 00 50 2c 73 0e }
    0x22, 0x07,                           // 4 channel_values[6]: 7 bytes {
    0x38, 0x80, 0x80, 0x80, 0x80, 0x80,   //   7 int64 (7, VARINT) 7<<3=0x38: 2^40, five zero
    0x20,                                 //     groups then 1<<(40-35)=0x20 }
    0x22, 0x0b,                           // 4 channel_values[7]: 11 bytes {
    0x40, 0xff, 0xff, 0xff, 0xff, 0xff,   //   8 uint64 (8, VARINT) 8<<3=0x40: 2^64-1,
    0xff, 0xff, 0xff, 0xff, 0x01,         //     9 x ff then 01 }
    0x22, 0x04,                           // 4 channel_values[8]: 4 bytes {
    0x4a, 0x02, 0x05, 0xa0,               //   9 bit_field (9, LEN) 9<<3|2=0x4a: 05 a0 }
    0x22, 0x02,                           // 4 channel_values[9]: 2 bytes {
    0x50, 0x03,                           //   10 enum (10, VARINT) 10<<3=0x50: 3 }
    0x22, 0x02,                           // 4 channel_values[10]: 2 bytes {
    0x5a, 0x00,                           //   11 empty (11, LEN) 11<<3|2=0x5a: {} (0 bytes) }
    0x22, 0x05,                           // 4 channel_values[11]: 5 bytes {
    0x62, 0x03, 0x00, 0xff, 0x10,         //   12 bytes (12, LEN) 12<<3|2=0x62: 00 ff 10 }
    0x2a, 0x05, 'r', 'u', 'n', '-', '7',  // 5 run_id (5, LEN) 5<<3|2=0x2a: "run-7"
    0x30, 0x01,                           // 6 end_stream_on_validation_error (6, VARINT) 0x30: true
    0x3a, 0x05, 'o', 'r', 'g', '-', '9',  // 7 organization_id (7, LEN) 7<<3|2=0x3a: "org-9"
};

TEST(IngestWireFormat, RequestWithEveryValueKindEncodesToSiftBytes) {
  EXPECT_TRUE(EncodesTo(IngestRequestWithEveryValueKind(), kIngestRequestWithEveryValueKind));
}

TEST(IngestWireFormat, SiftBytesOfRequestWithEveryValueKindDecodeToSameMessage) {
  EXPECT_TRUE(DecodesTo(kIngestRequestWithEveryValueKind, IngestRequestWithEveryValueKind()));
}

// int32 (not sint32/sfixed32): a negative value is sign-extended to a 10-byte varint.
TEST(IngestWireFormat, NegativeInt32ValueIsSignExtendedToTenByteVarint) {
  ingest::IngestWithConfigDataChannelValue value;
  value.set_int32(-1);
  const Bytes sift = {
      0x28, 0xff, 0xff, 0xff, 0xff, 0xff,  // 5 int32 (5, VARINT) 0x28: -1 = 2^64-1,
      0xff, 0xff, 0xff, 0xff, 0x01,        //   9 x ff then 01
  };
  EXPECT_TRUE(EncodesTo(value, sift));
  EXPECT_TRUE(DecodesTo(sift, value));
}

// A oneof member has presence: a zero value is sent, so Sift sees "0", not "no value". Dropping
// the oneof would silently turn these into absent fields.
TEST(IngestWireFormat, ZeroChannelValuesAreStillSentBecauseTheyAreOneofMembers) {
  ingest::IngestWithConfigDataStreamRequest request;
  request.add_channel_values()->set_double_(0.0);
  request.add_channel_values()->set_bool_(false);
  request.add_channel_values()->set_int32(0);
  request.add_channel_values()->set_string("");
  const Bytes sift = {
      0x22, 0x09,                          // 4 channel_values[0] (4, LEN): 9 bytes {
      0x11, 0x00, 0x00, 0x00, 0x00,        //   2 double (2, I64) 0x11: 0.0
      0x00, 0x00, 0x00, 0x00,              //   }
      0x22, 0x02, 0x20, 0x00,              // 4 channel_values[1] { 4 bool (4, VARINT) 0x20: false }
      0x22, 0x02, 0x28, 0x00,              // 4 channel_values[2] { 5 int32 (5, VARINT) 0x28: 0 }
      0x22, 0x02, 0x0a, 0x00,              // 4 channel_values[3] { 1 string (1, LEN) 0x0a: "" }
  };
  EXPECT_TRUE(EncodesTo(request, sift));
  EXPECT_TRUE(DecodesTo(sift, request));
}

// ---------------------------------------------------------------------------------------------
// sift.common.type.v1
// ---------------------------------------------------------------------------------------------

TEST(CommonTypeWireFormat, ChannelDataTypeNumbersMatchSift) {
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_UNSPECIFIED, 0);
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_DOUBLE, 1);
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_STRING, 2);
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_ENUM, 3);
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_BIT_FIELD, 4);
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_BOOL, 5);
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_FLOAT, 6);
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_INT_32, 7);
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_UINT_32, 8);
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_INT_64, 9);
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_UINT_64, 10);
  EXPECT_EQ(common::CHANNEL_DATA_TYPE_BYTES, 11);
}

TEST(CommonTypeWireFormat, ChannelDataTypeHasExactlySiftsTwelveValuesByName) {
  const EnumDescriptor* type = common::ChannelDataType_descriptor();
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(type->full_name(), "sift.common.type.v1.ChannelDataType");
  const std::vector<std::pair<std::string, int>> sift = {
      {"CHANNEL_DATA_TYPE_UNSPECIFIED", 0}, {"CHANNEL_DATA_TYPE_DOUBLE", 1},
      {"CHANNEL_DATA_TYPE_STRING", 2},      {"CHANNEL_DATA_TYPE_ENUM", 3},
      {"CHANNEL_DATA_TYPE_BIT_FIELD", 4},   {"CHANNEL_DATA_TYPE_BOOL", 5},
      {"CHANNEL_DATA_TYPE_FLOAT", 6},       {"CHANNEL_DATA_TYPE_INT_32", 7},
      {"CHANNEL_DATA_TYPE_UINT_32", 8},     {"CHANNEL_DATA_TYPE_INT_64", 9},
      {"CHANNEL_DATA_TYPE_UINT_64", 10},    {"CHANNEL_DATA_TYPE_BYTES", 11},
  };
  EXPECT_EQ(type->value_count(), static_cast<int>(sift.size()));
  for (const auto& [name, number] : sift) {
    const auto* value = type->FindValueByName(name);
    ASSERT_NE(value, nullptr) << name << " is missing from ChannelDataType";
    EXPECT_EQ(value->number(), number) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// sift.ingestion_configs.v2
// ---------------------------------------------------------------------------------------------

configs::CreateIngestionConfigRequest CreateIngestionConfigRequestWithEveryField() {
  configs::CreateIngestionConfigRequest request;
  request.set_asset_name("rover");
  configs::FlowConfig* flow = request.add_flows();
  flow->set_name("main");
  configs::ChannelConfig* channel = flow->add_channels();
  channel->set_name("mode");
  channel->set_unit("n/a");
  channel->set_description("gear");
  channel->set_data_type(common::CHANNEL_DATA_TYPE_ENUM);
  common::ChannelEnumType* enum_type = channel->add_enum_types();
  enum_type->set_name("park");
  enum_type->set_key(2);
  enum_type->set_is_signed(true);
  common::ChannelBitFieldElement* element = channel->add_bit_field_elements();
  element->set_name("fan");
  element->set_index(4);
  element->set_bit_count(2);
  request.set_organization_id("org-9");
  request.set_client_key("rover-cfg");
  return request;
}

const Bytes kCreateIngestionConfigRequestWithEveryField = {
    0x0a, 0x05, 'r', 'o', 'v', 'e', 'r',  // 1 asset_name (1, LEN) 0x0a: "rover"
    0x12, 0x32,                           // 2 flows[0] (2, LEN) 0x12: 50 = 6 + 2 + 42 bytes {
    0x0a, 0x04, 'm', 'a', 'i', 'n',       //   FlowConfig 1 name (1, LEN) 0x0a: "main"
    0x12, 0x2a,                           //   FlowConfig 2 channels[0] (2, LEN) 0x12:
                                          //     42 = 6 + 5 + 6 + 2 + 12 + 11 bytes {
    0x0a, 0x04, 'm', 'o', 'd', 'e',       //     ChannelConfig 1 name (1, LEN) 0x0a: "mode"
    0x12, 0x03, 'n', '/', 'a',            //     2 unit (2, LEN) 0x12: "n/a"
    0x1a, 0x04, 'g', 'e', 'a', 'r',       //     3 description (3, LEN) 0x1a: "gear"
    0x20, 0x03,                           //     4 data_type (4, VARINT) 0x20: ENUM = 3
    0x2a, 0x0a,                           //     5 enum_types[0] (5, LEN) 5<<3|2=0x2a: 10 bytes {
    0x0a, 0x04, 'p', 'a', 'r', 'k',       //       ChannelEnumType 1 name (1, LEN) 0x0a: "park"
    0x10, 0x02,                           //       2 key (2, VARINT) 0x10: 2
    0x18, 0x01,                           //       3 is_signed (3, VARINT) 3<<3=0x18: true }
    0x32, 0x09,                           //     6 bit_field_elements[0] (6, LEN) 6<<3|2=0x32:
                                          //       9 bytes {
    0x0a, 0x03, 'f', 'a', 'n',            //       ChannelBitFieldElement 1 name (1, LEN): "fan"
    0x10, 0x04,                           //       2 index (2, VARINT) 0x10: 4
    0x18, 0x02,                           //       3 bit_count (3, VARINT) 0x18: 2 } } }
    0x1a, 0x05, 'o', 'r', 'g', '-', '9',  // 3 organization_id (3, LEN) 0x1a: "org-9"
    0x22, 0x09, 'r', 'o', 'v', 'e', 'r',  // 4 client_key (4, LEN) 4<<3|2=0x22: "rover-cfg"
    '-', 'c', 'f', 'g',                   //
};

TEST(IngestionConfigsWireFormat, CreateIngestionConfigRequestEncodesToSiftBytes) {
  EXPECT_TRUE(EncodesTo(CreateIngestionConfigRequestWithEveryField(),
                        kCreateIngestionConfigRequestWithEveryField));
  EXPECT_TRUE(DecodesTo(kCreateIngestionConfigRequestWithEveryField,
                        CreateIngestionConfigRequestWithEveryField()));
}

TEST(IngestionConfigsWireFormat, ListIngestionConfigsRequestEncodesToSiftBytes) {
  configs::ListIngestionConfigsRequest request;
  request.set_page_size(300);
  request.set_page_token("p-2");
  request.set_filter("client_key == \"x\"");
  const Bytes sift = {
      0x08, 0xac, 0x02,                      // 1 page_size (1, VARINT) 0x08: 300 = 0x12c ->
                                             //   low 7 bits 0x2c|0x80, then 300>>7 = 2
      0x12, 0x03, 'p', '-', '2',             // 2 page_token (2, LEN) 0x12: "p-2"
      0x1a, 0x11,                            // 3 filter (3, LEN) 0x1a: 17 bytes
      'c', 'l', 'i', 'e', 'n', 't', '_', 'k', 'e', 'y', ' ', '=', '=', ' ', '"', 'x', '"',
  };
  EXPECT_TRUE(EncodesTo(request, sift));
  EXPECT_TRUE(DecodesTo(sift, request));
}

TEST(IngestionConfigsWireFormat, ListIngestionConfigFlowsRequestEncodesToSiftBytes) {
  configs::ListIngestionConfigFlowsRequest request;
  request.set_ingestion_config_id("cfg-1");
  request.set_page_size(100);
  request.set_page_token("p-3");
  request.set_filter("name == \"main\"");
  const Bytes sift = {
      0x0a, 0x05, 'c', 'f', 'g', '-', '1',  // 1 ingestion_config_id (1, LEN) 0x0a: "cfg-1"
      0x10, 0x64,                           // 2 page_size (2, VARINT) 0x10: 100
      0x1a, 0x03, 'p', '-', '3',            // 3 page_token (3, LEN) 0x1a: "p-3"
      0x22, 0x0e,                           // 4 filter (4, LEN) 0x22: 14 bytes
      'n', 'a', 'm', 'e', ' ', '=', '=', ' ', '"', 'm', 'a', 'i', 'n', '"',
  };
  EXPECT_TRUE(EncodesTo(request, sift));
  EXPECT_TRUE(DecodesTo(sift, request));
}

// The start-up path reads these responses; parse direction matters as much as send direction.
TEST(IngestionConfigsWireFormat, ListIngestionConfigsResponseFromSiftBytesKeepsClientKey) {
  configs::ListIngestionConfigsResponse response;
  configs::IngestionConfig* config = response.add_ingestion_configs();
  config->set_ingestion_config_id("cfg-1");
  config->set_asset_id("as-1");
  config->set_client_key("rover-cfg");
  response.set_next_page_token("p-5");
  const Bytes sift = {
      0x0a, 0x18,                           // 1 ingestion_configs[0] (1, LEN) 0x0a:
                                            //   24 = 7 + 6 + 11 bytes {
      0x0a, 0x05, 'c', 'f', 'g', '-', '1',  //   1 ingestion_config_id (1, LEN) 0x0a: "cfg-1"
      0x12, 0x04, 'a', 's', '-', '1',       //   2 asset_id (2, LEN) 0x12: "as-1"
      0x1a, 0x09, 'r', 'o', 'v', 'e', 'r',  //   3 client_key (3, LEN) 0x1a: "rover-cfg" }
      '-', 'c', 'f', 'g',                   //
      0x12, 0x03, 'p', '-', '5',            // 2 next_page_token (2, LEN) 0x12: "p-5"
  };
  EXPECT_TRUE(DecodesTo(sift, response));
  EXPECT_TRUE(EncodesTo(response, sift));
}

TEST(IngestionConfigsWireFormat, ListIngestionConfigFlowsResponseFromSiftBytesKeepsFlowName) {
  configs::ListIngestionConfigFlowsResponse response;
  response.add_flows()->set_name("main");
  response.set_next_page_token("p-7");
  const Bytes sift = {
      0x0a, 0x06,                           // 1 flows[0] (1, LEN) 0x0a: 6 bytes {
      0x0a, 0x04, 'm', 'a', 'i', 'n',       //   FlowConfig 1 name (1, LEN) 0x0a: "main" }
      0x12, 0x03, 'p', '-', '7',            // 2 next_page_token (2, LEN) 0x12: "p-7"
  };
  EXPECT_TRUE(DecodesTo(sift, response));
  EXPECT_TRUE(EncodesTo(response, sift));
}

TEST(IngestionConfigsWireFormat, CreateIngestionConfigResponseFromSiftBytesKeepsConfigId) {
  configs::CreateIngestionConfigResponse response;
  response.mutable_ingestion_config()->set_ingestion_config_id("cfg-1");
  const Bytes sift = {
      0x0a, 0x07,                           // 1 ingestion_config (1, LEN) 0x0a: 7 bytes {
      0x0a, 0x05, 'c', 'f', 'g', '-', '1',  //   1 ingestion_config_id (1, LEN) 0x0a: "cfg-1" }
  };
  EXPECT_TRUE(DecodesTo(sift, response));
  EXPECT_TRUE(EncodesTo(response, sift));
}

// ---------------------------------------------------------------------------------------------
// sift.runs.v2
// ---------------------------------------------------------------------------------------------

runs::Run RunWithEveryField() {
  runs::Run run;
  run.set_run_id("run-7");
  SetTimestamp(run.mutable_created_date(), 100, 0);
  SetTimestamp(run.mutable_modified_date(), 200, 0);
  run.set_organization_id("org-9");
  SetTimestamp(run.mutable_start_time(), 10, 1);
  SetTimestamp(run.mutable_stop_time(), 20, 2);
  run.set_name("sol-1");
  run.set_description("dry run");
  run.add_tags("a");
  run.add_tags("bb");
  run.set_client_key("run-key");
  run.add_asset_ids("as-1");
  run.add_asset_ids("as-2");
  return run;
}

const Bytes kRunWithEveryField = {
    0x0a, 0x05, 'r', 'u', 'n', '-', '7',  // 1 run_id (1, LEN) 0x0a: "run-7"
    0x12, 0x02, 0x08, 0x64,               // 2 created_date (2, LEN) 0x12: { seconds 0x08: 100 }
    0x1a, 0x03, 0x08, 0xc8, 0x01,         // 3 modified_date (3, LEN) 0x1a: { seconds 0x08: 200 =
                                          //   0x48|0x80, 200>>7 = 1 }
    0x32, 0x05, 'o', 'r', 'g', '-', '9',  // 6 organization_id (6, LEN) 6<<3|2=0x32: "org-9"
    0x3a, 0x04, 0x08, 0x0a, 0x10, 0x01,   // 7 start_time (7, LEN) 7<<3|2=0x3a:
                                          //   { seconds 0x08: 10, nanos 0x10: 1 }
    0x42, 0x04, 0x08, 0x14, 0x10, 0x02,   // 8 stop_time (8, LEN) 8<<3|2=0x42:
                                          //   { seconds 0x08: 20, nanos 0x10: 2 }
    0x52, 0x05, 's', 'o', 'l', '-', '1',  // 10 name (10, LEN) 10<<3|2=82=0x52: "sol-1"
    0x5a, 0x07, 'd', 'r', 'y', ' ', 'r',  // 11 description (11, LEN) 11<<3|2=90=0x5a:
    'u', 'n',                             //   "dry run"
    0x62, 0x01, 'a',                      // 12 tags[0] (12, LEN) 12<<3|2=98=0x62: "a"
    0x62, 0x02, 'b', 'b',                 // 12 tags[1] (12, LEN) 0x62: "bb"
    0x72, 0x07, 'r', 'u', 'n', '-', 'k',  // 14 client_key (14, LEN) 14<<3|2=114=0x72:
    'e', 'y',                             //   "run-key"
    0x82, 0x01, 0x04, 'a', 's', '-', '1', // 16 asset_ids[0] (16, LEN) 16<<3|2=130: varint
                                          //   0x02|0x80, 130>>7 = 1 -> 82 01; "as-1"
    0x82, 0x01, 0x04, 'a', 's', '-', '2', // 16 asset_ids[1] (16, LEN) 82 01: "as-2"
};

TEST(RunsWireFormat, RunWithEveryFieldEncodesToSiftBytes) {
  EXPECT_TRUE(EncodesTo(RunWithEveryField(), kRunWithEveryField));
  EXPECT_TRUE(DecodesTo(kRunWithEveryField, RunWithEveryField()));
}

// `optional` gives client_key presence: an empty key set on purpose is still sent. Dropping
// `optional` from the .proto would drop these bytes.
TEST(RunsWireFormat, EmptyOptionalFieldsAreStillSentBecauseTheyHavePresence) {
  runs::Run run;
  run.mutable_start_time();
  run.set_client_key("");
  const Bytes run_bytes = {
      0x3a, 0x00,  // 7 start_time (7, LEN) 0x3a: {} (0 bytes)
      0x72, 0x00,  // 14 client_key (14, LEN) 0x72: ""
  };
  EXPECT_TRUE(EncodesTo(run, run_bytes));
  EXPECT_TRUE(DecodesTo(run_bytes, run));

  runs::CreateRunRequest request;
  request.set_client_key("");
  const Bytes request_bytes = {
      0x42, 0x00,  // 8 client_key (8, LEN) 8<<3|2=0x42: ""
  };
  EXPECT_TRUE(EncodesTo(request, request_bytes));
  EXPECT_TRUE(DecodesTo(request_bytes, request));
}

runs::CreateRunRequest CreateRunRequestWithEveryField() {
  runs::CreateRunRequest request;
  request.set_name("sol-1");
  request.set_description("dry run");
  request.add_tags("a");
  request.add_tags("bb");
  SetTimestamp(request.mutable_start_time(), 10, 1);
  SetTimestamp(request.mutable_stop_time(), 20, 2);
  request.set_organization_id("org-9");
  request.set_client_key("run-key");
  return request;
}

const Bytes kCreateRunRequestWithEveryField = {
    0x0a, 0x05, 's', 'o', 'l', '-', '1',  // 1 name (1, LEN) 0x0a: "sol-1"
    0x12, 0x07, 'd', 'r', 'y', ' ', 'r',  // 2 description (2, LEN) 0x12: "dry run"
    'u', 'n',                             //
    0x1a, 0x01, 'a',                      // 3 tags[0] (3, LEN) 0x1a: "a"
    0x1a, 0x02, 'b', 'b',                 // 3 tags[1] (3, LEN) 0x1a: "bb"
    0x22, 0x04, 0x08, 0x0a, 0x10, 0x01,   // 4 start_time (4, LEN) 0x22:
                                          //   { seconds 0x08: 10, nanos 0x10: 1 }
    0x2a, 0x04, 0x08, 0x14, 0x10, 0x02,   // 5 stop_time (5, LEN) 0x2a:
                                          //   { seconds 0x08: 20, nanos 0x10: 2 }
    0x3a, 0x05, 'o', 'r', 'g', '-', '9',  // 7 organization_id (7, LEN) 7<<3|2=0x3a: "org-9"
    0x42, 0x07, 'r', 'u', 'n', '-', 'k',  // 8 client_key (8, LEN) 8<<3|2=0x42: "run-key"
    'e', 'y',                             //
};

TEST(RunsWireFormat, CreateRunRequestWithEveryFieldEncodesToSiftBytes) {
  EXPECT_TRUE(EncodesTo(CreateRunRequestWithEveryField(), kCreateRunRequestWithEveryField));
  EXPECT_TRUE(DecodesTo(kCreateRunRequestWithEveryField, CreateRunRequestWithEveryField()));
}

TEST(RunsWireFormat, CreateRunResponseFromSiftBytesKeepsRunId) {
  runs::CreateRunResponse response;
  response.mutable_run()->set_run_id("run-7");
  response.mutable_run()->set_client_key("run-key");
  const Bytes sift = {
      0x0a, 0x10,                           // 1 run (1, LEN) 0x0a: 16 = 7 + 9 bytes {
      0x0a, 0x05, 'r', 'u', 'n', '-', '7',  //   1 run_id (1, LEN) 0x0a: "run-7"
      0x72, 0x07, 'r', 'u', 'n', '-', 'k',  //   14 client_key (14, LEN) 0x72: "run-key" }
      'e', 'y',                             //
  };
  EXPECT_TRUE(DecodesTo(sift, response));
  EXPECT_TRUE(EncodesTo(response, sift));
}

TEST(RunsWireFormat, ListRunsRequestEncodesToSiftBytes) {
  runs::ListRunsRequest request;
  request.set_page_size(50);
  request.set_page_token("p-4");
  request.set_filter("client_key == \"run-key\"");
  request.set_order_by("created_date desc");
  const Bytes sift = {
      0x08, 0x32,                           // 1 page_size (1, VARINT) 0x08: 50
      0x12, 0x03, 'p', '-', '4',            // 2 page_token (2, LEN) 0x12: "p-4"
      0x1a, 0x17,                           // 3 filter (3, LEN) 0x1a: 23 bytes
      'c', 'l', 'i', 'e', 'n', 't', '_', 'k', 'e', 'y', ' ', '=', '=', ' ',
      '"', 'r', 'u', 'n', '-', 'k', 'e', 'y', '"',
      0x22, 0x11,                           // 4 order_by (4, LEN) 0x22: 17 bytes
      'c', 'r', 'e', 'a', 't', 'e', 'd', '_', 'd', 'a', 't', 'e', ' ', 'd', 'e', 's', 'c',
  };
  EXPECT_TRUE(EncodesTo(request, sift));
  EXPECT_TRUE(DecodesTo(sift, request));
}

TEST(RunsWireFormat, ListRunsResponseFromSiftBytesKeepsRunsAndToken) {
  runs::ListRunsResponse response;
  runs::Run* run = response.add_runs();
  run->set_run_id("run-7");
  run->set_client_key("run-key");
  response.set_next_page_token("p-6");
  const Bytes sift = {
      0x0a, 0x10,                           // 1 runs[0] (1, LEN) 0x0a: 16 = 7 + 9 bytes {
      0x0a, 0x05, 'r', 'u', 'n', '-', '7',  //   1 run_id (1, LEN) 0x0a: "run-7"
      0x72, 0x07, 'r', 'u', 'n', '-', 'k',  //   14 client_key (14, LEN) 0x72: "run-key" }
      'e', 'y',                             //
      0x12, 0x03, 'p', '-', '6',            // 2 next_page_token (2, LEN) 0x12: "p-6"
  };
  EXPECT_TRUE(DecodesTo(sift, response));
  EXPECT_TRUE(EncodesTo(response, sift));
}

TEST(RunsWireFormat, StopRunRequestEncodesToSiftBytes) {
  runs::StopRunRequest request;
  request.set_run_id("run-7");
  const Bytes sift = {
      0x0a, 0x05, 'r', 'u', 'n', '-', '7',  // 1 run_id (1, LEN) 0x0a: "run-7"
  };
  EXPECT_TRUE(EncodesTo(request, sift));
  EXPECT_TRUE(DecodesTo(sift, request));
}

TEST(RunsWireFormat, CreateAutomaticRunAssociationForAssetsRequestEncodesToSiftBytes) {
  runs::CreateAutomaticRunAssociationForAssetsRequest request;
  request.set_run_id("run-7");
  request.add_asset_names("rover");
  request.add_asset_names("drone");
  const Bytes sift = {
      0x0a, 0x05, 'r', 'u', 'n', '-', '7',  // 1 run_id (1, LEN) 0x0a: "run-7"
      0x12, 0x05, 'r', 'o', 'v', 'e', 'r',  // 2 asset_names[0] (2, LEN) 0x12: "rover"
      0x12, 0x05, 'd', 'r', 'o', 'n', 'e',  // 2 asset_names[1] (2, LEN) 0x12: "drone"
  };
  EXPECT_TRUE(EncodesTo(request, sift));
  EXPECT_TRUE(DecodesTo(sift, request));
}

// ---------------------------------------------------------------------------------------------
// Descriptors: every message and field of wire.md, by package-qualified name.
// ---------------------------------------------------------------------------------------------

// How a field is declared; each maps to different presence on the wire.
enum class Arity {
  kSingular,     // proto3 implicit presence: a default value is not sent
  kOptional,     // `optional`: explicit presence, a default value set on purpose is sent
  kRepeated,     // `repeated`
  kOneofMember,  // member of `oneof type`
};

struct FieldSpec {
  const char* message;    // full name, package included
  const char* field;
  int number;
  FieldDescriptor::Type type;
  Arity arity;
  const char* type_name;  // full name of the message or enum type; "" for scalars
};

constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;
constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kDouble = FieldDescriptor::TYPE_DOUBLE;
constexpr auto kFloat = FieldDescriptor::TYPE_FLOAT;
constexpr auto kInt32 = FieldDescriptor::TYPE_INT32;
constexpr auto kUint32 = FieldDescriptor::TYPE_UINT32;
constexpr auto kInt64 = FieldDescriptor::TYPE_INT64;
constexpr auto kUint64 = FieldDescriptor::TYPE_UINT64;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;
constexpr auto kMessage = FieldDescriptor::TYPE_MESSAGE;
constexpr auto kSingular = Arity::kSingular;
constexpr auto kOptional = Arity::kOptional;
constexpr auto kRepeated = Arity::kRepeated;
constexpr auto kOneof = Arity::kOneofMember;

constexpr char kTimestamp[] = "google.protobuf.Timestamp";
constexpr char kIngestRequest[] = "sift.ingest.v1.IngestWithConfigDataStreamRequest";
constexpr char kChannelValue[] = "sift.ingest.v1.IngestWithConfigDataChannelValue";
constexpr char kEnumType[] = "sift.common.type.v1.ChannelEnumType";
constexpr char kBitFieldElement[] = "sift.common.type.v1.ChannelBitFieldElement";
constexpr char kDataType[] = "sift.common.type.v1.ChannelDataType";
constexpr char kIngestionConfig[] = "sift.ingestion_configs.v2.IngestionConfig";
constexpr char kFlowConfig[] = "sift.ingestion_configs.v2.FlowConfig";
constexpr char kChannelConfig[] = "sift.ingestion_configs.v2.ChannelConfig";
constexpr char kRun[] = "sift.runs.v2.Run";

// Every message of wire.md, so that a message with no fields (an empty response) is still
// checked to exist under its package.
const std::vector<std::string> kSiftMessages = {
    kIngestRequest,
    "sift.ingest.v1.IngestWithConfigDataStreamResponse",
    kChannelValue,
    kEnumType,
    kBitFieldElement,
    kIngestionConfig,
    kFlowConfig,
    kChannelConfig,
    "sift.ingestion_configs.v2.GetIngestionConfigRequest",
    "sift.ingestion_configs.v2.GetIngestionConfigResponse",
    "sift.ingestion_configs.v2.CreateIngestionConfigRequest",
    "sift.ingestion_configs.v2.CreateIngestionConfigResponse",
    "sift.ingestion_configs.v2.ListIngestionConfigsRequest",
    "sift.ingestion_configs.v2.ListIngestionConfigsResponse",
    "sift.ingestion_configs.v2.CreateIngestionConfigFlowsRequest",
    "sift.ingestion_configs.v2.CreateIngestionConfigFlowsResponse",
    "sift.ingestion_configs.v2.ListIngestionConfigFlowsRequest",
    "sift.ingestion_configs.v2.ListIngestionConfigFlowsResponse",
    kRun,
    "sift.runs.v2.CreateRunRequest",
    "sift.runs.v2.CreateRunResponse",
    "sift.runs.v2.GetRunRequest",
    "sift.runs.v2.GetRunResponse",
    "sift.runs.v2.ListRunsRequest",
    "sift.runs.v2.ListRunsResponse",
    "sift.runs.v2.StopRunRequest",
    "sift.runs.v2.StopRunResponse",
    "sift.runs.v2.CreateAutomaticRunAssociationForAssetsRequest",
    "sift.runs.v2.CreateAutomaticRunAssociationForAssetsResponse",
};

const std::vector<FieldSpec> kSiftFields = {
    // sift.ingest.v1
    {kIngestRequest, "ingestion_config_id", 1, kString, kSingular, ""},
    {kIngestRequest, "flow", 2, kString, kSingular, ""},
    {kIngestRequest, "timestamp", 3, kMessage, kSingular, kTimestamp},
    {kIngestRequest, "channel_values", 4, kMessage, kRepeated, kChannelValue},
    {kIngestRequest, "run_id", 5, kString, kSingular, ""},
    {kIngestRequest, "end_stream_on_validation_error", 6, kBool, kSingular, ""},
    {kIngestRequest, "organization_id", 7, kString, kSingular, ""},
    {kChannelValue, "string", 1, kString, kOneof, ""},
    {kChannelValue, "double", 2, kDouble, kOneof, ""},
    {kChannelValue, "float", 3, kFloat, kOneof, ""},
    {kChannelValue, "bool", 4, kBool, kOneof, ""},
    {kChannelValue, "int32", 5, kInt32, kOneof, ""},
    {kChannelValue, "uint32", 6, kUint32, kOneof, ""},
    {kChannelValue, "int64", 7, kInt64, kOneof, ""},
    {kChannelValue, "uint64", 8, kUint64, kOneof, ""},
    {kChannelValue, "bit_field", 9, kBytes, kOneof, ""},
    {kChannelValue, "enum", 10, kUint32, kOneof, ""},
    {kChannelValue, "empty", 11, kMessage, kOneof, "google.protobuf.Empty"},
    {kChannelValue, "bytes", 12, kBytes, kOneof, ""},
    // sift.common.type.v1
    {kEnumType, "name", 1, kString, kSingular, ""},
    {kEnumType, "key", 2, kUint32, kSingular, ""},
    {kEnumType, "is_signed", 3, kBool, kSingular, ""},
    {kBitFieldElement, "name", 1, kString, kSingular, ""},
    {kBitFieldElement, "index", 2, kInt32, kSingular, ""},
    {kBitFieldElement, "bit_count", 3, kUint32, kSingular, ""},
    // sift.ingestion_configs.v2
    {kIngestionConfig, "ingestion_config_id", 1, kString, kSingular, ""},
    {kIngestionConfig, "asset_id", 2, kString, kSingular, ""},
    {kIngestionConfig, "client_key", 3, kString, kSingular, ""},
    {kFlowConfig, "name", 1, kString, kSingular, ""},
    {kFlowConfig, "channels", 2, kMessage, kRepeated, kChannelConfig},
    {kChannelConfig, "name", 1, kString, kSingular, ""},
    {kChannelConfig, "unit", 2, kString, kSingular, ""},
    {kChannelConfig, "description", 3, kString, kSingular, ""},
    {kChannelConfig, "data_type", 4, kEnum, kSingular, kDataType},
    {kChannelConfig, "enum_types", 5, kMessage, kRepeated, kEnumType},
    {kChannelConfig, "bit_field_elements", 6, kMessage, kRepeated, kBitFieldElement},
    {"sift.ingestion_configs.v2.GetIngestionConfigRequest", "ingestion_config_id", 1, kString,
     kSingular, ""},
    {"sift.ingestion_configs.v2.GetIngestionConfigResponse", "ingestion_config", 1, kMessage,
     kSingular, kIngestionConfig},
    {"sift.ingestion_configs.v2.CreateIngestionConfigRequest", "asset_name", 1, kString,
     kSingular, ""},
    {"sift.ingestion_configs.v2.CreateIngestionConfigRequest", "flows", 2, kMessage, kRepeated,
     kFlowConfig},
    {"sift.ingestion_configs.v2.CreateIngestionConfigRequest", "organization_id", 3, kString,
     kSingular, ""},
    {"sift.ingestion_configs.v2.CreateIngestionConfigRequest", "client_key", 4, kString,
     kSingular, ""},
    {"sift.ingestion_configs.v2.CreateIngestionConfigResponse", "ingestion_config", 1, kMessage,
     kSingular, kIngestionConfig},
    {"sift.ingestion_configs.v2.ListIngestionConfigsRequest", "page_size", 1, kUint32, kSingular,
     ""},
    {"sift.ingestion_configs.v2.ListIngestionConfigsRequest", "page_token", 2, kString,
     kSingular, ""},
    {"sift.ingestion_configs.v2.ListIngestionConfigsRequest", "filter", 3, kString, kSingular,
     ""},
    {"sift.ingestion_configs.v2.ListIngestionConfigsResponse", "ingestion_configs", 1, kMessage,
     kRepeated, kIngestionConfig},
    {"sift.ingestion_configs.v2.ListIngestionConfigsResponse", "next_page_token", 2, kString,
     kSingular, ""},
    {"sift.ingestion_configs.v2.CreateIngestionConfigFlowsRequest", "ingestion_config_id", 1,
     kString, kSingular, ""},
    {"sift.ingestion_configs.v2.CreateIngestionConfigFlowsRequest", "flows", 2, kMessage,
     kRepeated, kFlowConfig},
    {"sift.ingestion_configs.v2.ListIngestionConfigFlowsRequest", "ingestion_config_id", 1,
     kString, kSingular, ""},
    {"sift.ingestion_configs.v2.ListIngestionConfigFlowsRequest", "page_size", 2, kUint32,
     kSingular, ""},
    {"sift.ingestion_configs.v2.ListIngestionConfigFlowsRequest", "page_token", 3, kString,
     kSingular, ""},
    {"sift.ingestion_configs.v2.ListIngestionConfigFlowsRequest", "filter", 4, kString,
     kSingular, ""},
    {"sift.ingestion_configs.v2.ListIngestionConfigFlowsResponse", "flows", 1, kMessage,
     kRepeated, kFlowConfig},
    {"sift.ingestion_configs.v2.ListIngestionConfigFlowsResponse", "next_page_token", 2,
     kString, kSingular, ""},
    // sift.runs.v2
    {kRun, "run_id", 1, kString, kSingular, ""},
    {kRun, "created_date", 2, kMessage, kSingular, kTimestamp},
    {kRun, "modified_date", 3, kMessage, kSingular, kTimestamp},
    {kRun, "organization_id", 6, kString, kSingular, ""},
    {kRun, "start_time", 7, kMessage, kOptional, kTimestamp},
    {kRun, "stop_time", 8, kMessage, kOptional, kTimestamp},
    {kRun, "name", 10, kString, kSingular, ""},
    {kRun, "description", 11, kString, kSingular, ""},
    {kRun, "tags", 12, kString, kRepeated, ""},
    {kRun, "client_key", 14, kString, kOptional, ""},
    {kRun, "asset_ids", 16, kString, kRepeated, ""},
    {"sift.runs.v2.CreateRunRequest", "name", 1, kString, kSingular, ""},
    {"sift.runs.v2.CreateRunRequest", "description", 2, kString, kSingular, ""},
    {"sift.runs.v2.CreateRunRequest", "tags", 3, kString, kRepeated, ""},
    {"sift.runs.v2.CreateRunRequest", "start_time", 4, kMessage, kSingular, kTimestamp},
    {"sift.runs.v2.CreateRunRequest", "stop_time", 5, kMessage, kSingular, kTimestamp},
    {"sift.runs.v2.CreateRunRequest", "organization_id", 7, kString, kSingular, ""},
    {"sift.runs.v2.CreateRunRequest", "client_key", 8, kString, kOptional, ""},
    {"sift.runs.v2.CreateRunResponse", "run", 1, kMessage, kSingular, kRun},
    {"sift.runs.v2.GetRunResponse", "run", 1, kMessage, kSingular, kRun},
    {"sift.runs.v2.GetRunRequest", "run_id", 1, kString, kSingular, ""},
    {"sift.runs.v2.ListRunsRequest", "page_size", 1, kUint32, kSingular, ""},
    {"sift.runs.v2.ListRunsRequest", "page_token", 2, kString, kSingular, ""},
    {"sift.runs.v2.ListRunsRequest", "filter", 3, kString, kSingular, ""},
    {"sift.runs.v2.ListRunsRequest", "order_by", 4, kString, kSingular, ""},
    {"sift.runs.v2.ListRunsResponse", "runs", 1, kMessage, kRepeated, kRun},
    {"sift.runs.v2.ListRunsResponse", "next_page_token", 2, kString, kSingular, ""},
    {"sift.runs.v2.StopRunRequest", "run_id", 1, kString, kSingular, ""},
    {"sift.runs.v2.CreateAutomaticRunAssociationForAssetsRequest", "run_id", 1, kString,
     kSingular, ""},
    {"sift.runs.v2.CreateAutomaticRunAssociationForAssetsRequest", "asset_names", 2, kString,
     kRepeated, ""},
};

const char* ArityName(Arity arity) {
  switch (arity) {
    case Arity::kSingular: return "singular";
    case Arity::kOptional: return "optional";
    case Arity::kRepeated: return "repeated";
    case Arity::kOneofMember: return "oneof member";
  }
  return "?";
}

Arity ArityOf(const FieldDescriptor& field) {
  if (field.is_repeated()) return Arity::kRepeated;
  if (field.has_optional_keyword()) return Arity::kOptional;
  if (field.real_containing_oneof() != nullptr) return Arity::kOneofMember;
  return Arity::kSingular;
}

std::string TypeNameOf(const FieldDescriptor& field) {
  if (field.message_type() != nullptr) return field.message_type()->full_name();
  if (field.enum_type() != nullptr) return field.enum_type()->full_name();
  return "";
}

const Descriptor* FindMessage(const std::string& full_name) {
  return DescriptorPool::generated_pool()->FindMessageTypeByName(full_name);
}

// The C++ classes we use are the ones registered under Sift's package-qualified names.
TEST(SiftDescriptors, GeneratedClassesCarrySiftsPackageQualifiedNames) {
  const std::vector<std::pair<const Descriptor*, std::string>> classes = {
      {ingest::IngestWithConfigDataStreamRequest::descriptor(), kIngestRequest},
      {ingest::IngestWithConfigDataStreamResponse::descriptor(),
       "sift.ingest.v1.IngestWithConfigDataStreamResponse"},
      {ingest::IngestWithConfigDataChannelValue::descriptor(), kChannelValue},
      {common::ChannelEnumType::descriptor(), kEnumType},
      {common::ChannelBitFieldElement::descriptor(), kBitFieldElement},
      {configs::IngestionConfig::descriptor(), kIngestionConfig},
      {configs::FlowConfig::descriptor(), kFlowConfig},
      {configs::ChannelConfig::descriptor(), kChannelConfig},
      {configs::CreateIngestionConfigRequest::descriptor(),
       "sift.ingestion_configs.v2.CreateIngestionConfigRequest"},
      {configs::ListIngestionConfigsRequest::descriptor(),
       "sift.ingestion_configs.v2.ListIngestionConfigsRequest"},
      {configs::ListIngestionConfigFlowsRequest::descriptor(),
       "sift.ingestion_configs.v2.ListIngestionConfigFlowsRequest"},
      {runs::Run::descriptor(), kRun},
      {runs::CreateRunRequest::descriptor(), "sift.runs.v2.CreateRunRequest"},
      {runs::ListRunsRequest::descriptor(), "sift.runs.v2.ListRunsRequest"},
      {runs::StopRunRequest::descriptor(), "sift.runs.v2.StopRunRequest"},
      {runs::CreateAutomaticRunAssociationForAssetsRequest::descriptor(),
       "sift.runs.v2.CreateAutomaticRunAssociationForAssetsRequest"},
  };
  for (const auto& [descriptor, full_name] : classes) {
    ASSERT_NE(descriptor, nullptr) << full_name;
    EXPECT_EQ(descriptor->full_name(), full_name);
  }
  EXPECT_EQ(ingest::IngestWithConfigDataStreamRequest::descriptor()->file()->package(),
            "sift.ingest.v1");
  EXPECT_EQ(common::ChannelEnumType::descriptor()->file()->package(), "sift.common.type.v1");
  EXPECT_EQ(configs::IngestionConfig::descriptor()->file()->package(),
            "sift.ingestion_configs.v2");
  EXPECT_EQ(runs::Run::descriptor()->file()->package(), "sift.runs.v2");
}

TEST(SiftDescriptors, EveryMessageOfTheSpecExistsUnderItsPackage) {
  for (const std::string& full_name : kSiftMessages) {
    EXPECT_NE(FindMessage(full_name), nullptr)
        << full_name << " is not declared (renamed message or package?)";
  }
}

TEST(SiftDescriptors, EveryFieldOfTheSpecHasSiftsNumberTypeAndArity) {
  for (const FieldSpec& spec : kSiftFields) {
    SCOPED_TRACE(std::string(spec.message) + "." + spec.field);
    const Descriptor* message = FindMessage(spec.message);
    ASSERT_NE(message, nullptr) << "message not declared";
    const FieldDescriptor* field = message->FindFieldByName(spec.field);
    ASSERT_NE(field, nullptr) << "field not declared (renamed?)";
    EXPECT_EQ(field->number(), spec.number) << "renumbered";
    EXPECT_STREQ(field->type_name(), FieldDescriptor::TypeName(spec.type)) << "type changed";
    EXPECT_STREQ(ArityName(ArityOf(*field)), ArityName(spec.arity)) << "arity changed";
    EXPECT_EQ(TypeNameOf(*field), spec.type_name);
  }
}

// A field we declare that the table lacks is either a typo'd duplicate or an unreviewed
// addition; either way it must be checked against Sift's API and added to the table.
TEST(SiftDescriptors, NoMessageDeclaresAFieldMissingFromTheSpecTable) {
  std::map<std::string, int> spec_field_count;
  for (const FieldSpec& spec : kSiftFields) ++spec_field_count[spec.message];
  for (const std::string& full_name : kSiftMessages) {
    const Descriptor* message = FindMessage(full_name);
    ASSERT_NE(message, nullptr) << full_name;
    EXPECT_EQ(message->field_count(), spec_field_count[full_name]) << full_name;
  }
}

TEST(SiftDescriptors, ChannelValueKindsShareOneOneofNamedType) {
  const Descriptor* value = FindMessage(kChannelValue);
  ASSERT_NE(value, nullptr);
  ASSERT_EQ(value->real_oneof_decl_count(), 1);
  EXPECT_EQ(value->oneof_decl(0)->name(), "type");
  EXPECT_EQ(value->oneof_decl(0)->field_count(), 12);
}

}  // namespace
