// python/flow_spec.cc — reads flow descriptions from Python objects (see flow_spec.h).
//
// Every field is read the same way from a dict key or an attribute, so any record type
// works; a dict with a key we do not know is refused, because a misspelt "unti" would
// otherwise vanish silently into a channel without a unit.

#include "python/flow_spec.h"

#include <pybind11/stl.h>

#include <initializer_list>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sift_stream::python {
namespace {

namespace py = pybind11;
using sift::common::type::v1::ChannelDataType;
using sift::ingestion_configs::v2::ChannelConfig;
using sift::ingestion_configs::v2::FlowConfig;

constexpr std::pair<absl::string_view, ChannelDataType> kTypeNames[] = {
    {"double", sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE},
    {"float", sift::common::type::v1::CHANNEL_DATA_TYPE_FLOAT},
    {"int32", sift::common::type::v1::CHANNEL_DATA_TYPE_INT_32},
    {"int64", sift::common::type::v1::CHANNEL_DATA_TYPE_INT_64},
    {"uint32", sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_32},
    {"uint64", sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_64},
    {"bool", sift::common::type::v1::CHANNEL_DATA_TYPE_BOOL},
    {"string", sift::common::type::v1::CHANNEL_DATA_TYPE_STRING},
    {"enum", sift::common::type::v1::CHANNEL_DATA_TYPE_ENUM},
    {"bit_field", sift::common::type::v1::CHANNEL_DATA_TYPE_BIT_FIELD},
    {"bytes", sift::common::type::v1::CHANNEL_DATA_TYPE_BYTES},
};

// A dict's `key`, or the attribute `key` of anything else; None when absent.
py::object Field(py::handle record, const char* key) {
  if (py::isinstance<py::dict>(record)) {
    py::dict dict = py::reinterpret_borrow<py::dict>(record);
    return dict.contains(key) ? py::reinterpret_borrow<py::object>(dict[key]) : py::none();
  }
  return py::getattr(record, key, py::none());
}

void RefuseUnknownKeys(py::handle record, std::initializer_list<absl::string_view> known,
                       absl::string_view where) {
  if (!py::isinstance<py::dict>(record)) return;
  for (auto item : py::reinterpret_borrow<py::dict>(record)) {
    const std::string key = py::str(item.first);
    bool found = false;
    for (absl::string_view k : known) found = found || k == key;
    if (!found) {
      throw py::value_error(absl::StrCat(where, ": unknown key '", key, "' (known: ",
                                         absl::StrJoin(known, ", "), ")"));
    }
  }
}

// A str field; "" when absent and not required.
std::string TextField(py::handle record, const char* key, absl::string_view where,
                      bool required) {
  py::object value = Field(record, key);
  if (value.is_none()) {
    if (required) throw py::value_error(absl::StrCat(where, ": '", key, "' is required"));
    return "";
  }
  if (!py::isinstance<py::str>(value)) {
    throw py::type_error(absl::StrCat(where, ": '", key, "' must be a str, not ",
                                      std::string(py::str(value.get_type().attr("__name__")))));
  }
  return value.cast<std::string>();
}

// pybind11's own cast error says neither where nor what was expected.
template <typename T>
T CastOrThrow(py::handle value, absl::string_view where, absl::string_view expected) {
  try {
    return value.cast<T>();
  } catch (const py::cast_error&) {
    throw py::type_error(absl::StrCat(where, ": ", expected, ", got ",
                                      std::string(py::repr(value))));
  }
}

void AddEnumTypes(py::handle enum_types, ChannelConfig* channel, absl::string_view where) {
  if (enum_types.is_none()) return;
  // {"OFF": 0, "ON": 1} or [("OFF", 0), ("ON", 1)].
  py::iterable pairs = py::isinstance<py::dict>(enum_types)
                           ? py::iterable(enum_types.attr("items")())
                           : py::reinterpret_borrow<py::iterable>(enum_types);
  for (py::handle pair : pairs) {
    auto [name, key] = CastOrThrow<std::pair<std::string, uint32_t>>(
        pair, where, "enum_types entries are (name, key) with key a uint32");
    auto* type = channel->add_enum_types();
    type->set_name(name);
    type->set_key(key);
  }
  if (channel->enum_types_size() == 0) {
    throw py::value_error(absl::StrCat(where, ": enum_types is empty"));
  }
}

void AddBitFieldElements(py::handle elements, ChannelConfig* channel, absl::string_view where) {
  if (elements.is_none()) return;
  for (py::handle element : elements) {
    auto [name, index, bit_count] = CastOrThrow<std::tuple<std::string, int32_t, uint32_t>>(
        element, where, "bit_field_elements entries are (name, index, bit_count)");
    auto* out = channel->add_bit_field_elements();
    out->set_name(name);
    out->set_index(index);
    out->set_bit_count(bit_count);
  }
}

// ("name", "type") or ("name", "type", "unit").
ChannelConfig ChannelFromTuple(py::tuple tuple, absl::string_view flow) {
  if (tuple.size() < 2 || tuple.size() > 3) {
    throw py::value_error(absl::StrCat("flow '", flow,
                                       "': a channel tuple is (name, type) or (name, type, unit)"));
  }
  ChannelConfig channel;
  const std::string where = absl::StrCat("flow '", flow, "'");
  channel.set_name(CastOrThrow<std::string>(tuple[0], where, "a channel's name is a str"));
  channel.set_data_type(ChannelTypeFromName(
      CastOrThrow<std::string>(tuple[1], where, "a channel's type is a str"), channel.name()));
  if (tuple.size() == 3) {
    channel.set_unit(CastOrThrow<std::string>(tuple[2], where, "a channel's unit is a str"));
  }
  return channel;
}

ChannelConfig ChannelFromPython(py::handle record, absl::string_view flow) {
  if (py::isinstance<py::tuple>(record)) {
    return ChannelFromTuple(py::reinterpret_borrow<py::tuple>(record), flow);
  }
  const std::string where = absl::StrCat("flow '", flow, "'");
  RefuseUnknownKeys(record,
                    {"name", "type", "unit", "description", "enum_types", "bit_field_elements"},
                    absl::StrCat(where, ", channel"));
  ChannelConfig channel;
  channel.set_name(TextField(record, "name", absl::StrCat(where, ", channel"), true));
  const std::string channel_where = absl::StrCat(where, ", channel '", channel.name(), "'");
  channel.set_data_type(
      ChannelTypeFromName(TextField(record, "type", channel_where, true), channel.name()));
  channel.set_unit(TextField(record, "unit", channel_where, false));
  channel.set_description(TextField(record, "description", channel_where, false));
  AddEnumTypes(Field(record, "enum_types"), &channel, channel_where);
  AddBitFieldElements(Field(record, "bit_field_elements"), &channel, channel_where);
  if (channel.data_type() == sift::common::type::v1::CHANNEL_DATA_TYPE_ENUM &&
      channel.enum_types_size() == 0) {
    throw py::value_error(absl::StrCat(channel_where, ": an enum channel needs enum_types"));
  }
  return channel;
}

FlowConfig FlowFromPython(py::handle record) {
  RefuseUnknownKeys(record, {"name", "channels"}, "flow");
  FlowConfig flow;
  flow.set_name(TextField(record, "name", "flow", true));
  py::object channels = Field(record, "channels");
  if (channels.is_none() || !py::isinstance<py::iterable>(channels)) {
    throw py::value_error(absl::StrCat("flow '", flow.name(), "': 'channels' must be a list"));
  }
  absl::flat_hash_set<std::string> names;
  for (py::handle channel : channels) {
    *flow.add_channels() = ChannelFromPython(channel, flow.name());
    if (!names.insert(flow.channels().rbegin()->name()).second) {
      throw py::value_error(absl::StrCat("flow '", flow.name(), "': channel '",
                                         flow.channels().rbegin()->name(), "' appears twice"));
    }
  }
  if (flow.channels_size() == 0) {
    throw py::value_error(absl::StrCat("flow '", flow.name(), "' has no channels"));
  }
  return flow;
}

std::string ChannelRepr(const ChannelSpec& c) {
  return absl::StrCat("Channel(name='", c.name, "', type='", c.type, "'",
                      c.unit.empty() ? "" : absl::StrCat(", unit='", c.unit, "'"), ")");
}

}  // namespace

ChannelDataType ChannelTypeFromName(absl::string_view type, absl::string_view channel) {
  for (const auto& [name, value] : kTypeNames) {
    if (name == type) return value;
  }
  std::vector<absl::string_view> known;
  for (const auto& entry : kTypeNames) known.push_back(entry.first);
  throw py::value_error(absl::StrCat("channel '", channel, "': unknown type '", type,
                                     "' (known: ", absl::StrJoin(known, ", "), ")"));
}

absl::string_view ChannelTypeToName(ChannelDataType type) {
  for (const auto& [name, value] : kTypeNames) {
    if (value == type) return name;
  }
  return "unspecified";
}

std::vector<FlowConfig> FlowsFromPython(py::handle flows) {
  if (!py::isinstance<py::iterable>(flows) || py::isinstance<py::str>(flows) ||
      py::isinstance<py::dict>(flows)) {
    throw py::type_error("flows must be a list of flows (dicts or sift_stream.Flow)");
  }
  std::vector<FlowConfig> configs;
  absl::flat_hash_set<std::string> names;
  for (py::handle flow : flows) {
    configs.push_back(FlowFromPython(flow));
    if (!names.insert(configs.back().name()).second) {
      throw py::value_error(absl::StrCat("flow '", configs.back().name(), "' appears twice"));
    }
  }
  return configs;
}

void RegisterFlowSpecClasses(py::module_& module) {
  py::class_<ChannelSpec>(module, "Channel", "One channel of a flow: name, type and extras.")
      .def(py::init([](std::string name, std::string type, std::string unit,
                       std::string description, py::object enum_types,
                       py::object bit_field_elements) {
             ChannelTypeFromName(type, name);  // Refuse a bad type where it is written.
             return ChannelSpec{std::move(name), std::move(type), std::move(unit),
                                std::move(description), std::move(enum_types),
                                std::move(bit_field_elements)};
           }),
           py::arg("name"), py::arg("type"), py::arg("unit") = "",
           py::arg("description") = "", py::arg("enum_types") = py::none(),
           py::arg("bit_field_elements") = py::none())
      .def_readwrite("name", &ChannelSpec::name)
      .def_readwrite("type", &ChannelSpec::type)
      .def_readwrite("unit", &ChannelSpec::unit)
      .def_readwrite("description", &ChannelSpec::description)
      .def_readwrite("enum_types", &ChannelSpec::enum_types)
      .def_readwrite("bit_field_elements", &ChannelSpec::bit_field_elements)
      .def("__repr__", &ChannelRepr);
  py::class_<FlowSpec>(module, "Flow", "A flow: a name and its channels, in order.")
      .def(py::init([](std::string name, py::iterable channels) {
             return FlowSpec{std::move(name), py::list(channels)};
           }),
           py::arg("name"), py::arg("channels"))
      .def_readwrite("name", &FlowSpec::name)
      .def_readwrite("channels", &FlowSpec::channels)
      .def("__repr__", [](const FlowSpec& f) {
        return absl::StrCat("Flow(name='", f.name, "', channels=",
                            std::string(py::repr(f.channels)), ")");
      });
}

}  // namespace sift_stream::python
