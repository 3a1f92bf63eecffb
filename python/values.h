// python/values.h — Python values and timestamps as the engine's ChannelValues and absl::Time.
//
// A flow's channel types are looked up once, when the stream is built (ResolvedFlow), so a
// message costs one type check and one conversion per value and no name lookup: ints for an
// int64 channel become ChannelValue::Int64, floats for a double channel Double, and so on.
// None is "no new value" for that channel. Conversions are strict where a silent one would
// hide a bug: a bool is not taken for a number, a float not for an int, bytes not for a str.
// A mistake raises TypeError (wrong kind of value) or ValueError (right kind, but out of the
// channel's range, an unknown enum name, or the wrong number of values), naming the flow and
// the channel.

#ifndef SIFT_STREAM_PYTHON_VALUES_H_
#define SIFT_STREAM_PYTHON_VALUES_H_

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "engine/request_builder.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"

namespace sift_stream::python {

struct ResolvedChannel {
  std::string name;
  sift::common::type::v1::ChannelDataType type;
  absl::flat_hash_map<std::string, uint32_t> enum_keys;  // Enum channels: name → key.
};

struct ResolvedFlow {
  std::string name;
  std::vector<ResolvedChannel> channels;
};

ResolvedFlow Resolve(const sift::ingestion_configs::v2::FlowConfig& flow);

// For auto-registered flows (Builder.auto_register_flows): the flow named `name` that the
// Python types of `values` imply, for ToChannelValues to convert them by. bool → bool,
// int → int64, float → double, str → string, bytes/bytearray → bytes, None → no type (the
// engine refuses to register it: InvalidArgument). Channel names are the engine's
// ("channel_0", ...). Raises TypeError for any other type: there would be no channel type to
// register it as. Needs the GIL.
ResolvedFlow InferFlow(const std::string& name, pybind11::handle values);

// Fills `out` (cleared first) with one value per channel of `flow` from the sequence
// `values`. Needs the GIL; raises as the file comment says.
void ToChannelValues(const ResolvedFlow& flow, pybind11::handle values,
                     std::vector<engine::ChannelValue>* out);

// A float or int of seconds since the Unix epoch, or a datetime.datetime (naive ones are
// local time, as datetime.timestamp() takes them). Raises TypeError/ValueError otherwise.
absl::Time ToTime(pybind11::handle timestamp);

}  // namespace sift_stream::python

#endif  // SIFT_STREAM_PYTHON_VALUES_H_
