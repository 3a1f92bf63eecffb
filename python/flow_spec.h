// python/flow_spec.h — flows described in Python, as the FlowConfig protos the engine takes.
//
// A flow is anything with a `name` and `channels` (a dict, a sift_stream.Flow, a dataclass,
// a namedtuple); a channel is anything with `name` and `type` and optionally `unit`,
// `description`, `enum_types` ({"OFF": 0, ...} or [(name, key), ...]) and
// `bit_field_elements` ([(name, index, bit_count), ...]), or a tuple (name, type[, unit]).
// Types are Sift's, by the names users write: "double", "float", "int32", "int64", "uint32",
// "uint64", "bool", "string", "enum", "bit_field", "bytes". A mistake raises TypeError or
// ValueError naming the flow and the channel; nothing is checked later than this.

#ifndef SIFT_STREAM_PYTHON_FLOW_SPEC_H_
#define SIFT_STREAM_PYTHON_FLOW_SPEC_H_

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"

namespace sift_stream::python {

// The Python-side classes sift_stream.Flow and sift_stream.Channel: plain records, so that a
// flow can be written without dicts. FlowsFromPython reads them like any other object.
struct ChannelSpec {
  std::string name;
  std::string type;
  std::string unit;
  std::string description;
  pybind11::object enum_types = pybind11::none();
  pybind11::object bit_field_elements = pybind11::none();
};

struct FlowSpec {
  std::string name;
  pybind11::list channels;
};

void RegisterFlowSpecClasses(pybind11::module_& module);

// Converts an iterable of flow descriptions; raises on the first mistake (duplicate flow or
// channel names included).
std::vector<sift::ingestion_configs::v2::FlowConfig> FlowsFromPython(pybind11::handle flows);

// "double" → CHANNEL_DATA_TYPE_DOUBLE, ...; raises ValueError naming `channel` otherwise.
sift::common::type::v1::ChannelDataType ChannelTypeFromName(absl::string_view type,
                                                            absl::string_view channel);

// The user-facing name of a type ("int32"), the inverse of ChannelTypeFromName.
absl::string_view ChannelTypeToName(sift::common::type::v1::ChannelDataType type);

}  // namespace sift_stream::python

#endif  // SIFT_STREAM_PYTHON_FLOW_SPEC_H_
