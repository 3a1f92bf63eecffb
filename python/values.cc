// python/values.cc — the conversions of values.h, through the C API on the hot path:
// pybind11's generic casters would accept a float for an int channel (or a bool for a double)
// and cost a Python exception per failed overload.

#include "python/values.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "python/flow_spec.h"

namespace sift_stream::python {
namespace {

namespace py = pybind11;
using engine::ChannelValue;
using sift::common::type::v1::ChannelDataType;

std::string TypeName(py::handle value) { return Py_TYPE(value.ptr())->tp_name; }

[[noreturn]] void WrongType(const ResolvedFlow& flow, const ResolvedChannel& channel,
                            py::handle value) {
  throw py::type_error(absl::StrCat("flow '", flow.name, "', channel '", channel.name, "' is ",
                                    ChannelTypeToName(channel.type), ": got ", TypeName(value),
                                    " ", std::string(py::repr(value))));
}

[[noreturn]] void OutOfRange(const ResolvedFlow& flow, const ResolvedChannel& channel,
                             py::handle value) {
  throw py::value_error(absl::StrCat("flow '", flow.name, "', channel '", channel.name,
                                     "': ", std::string(py::repr(value)), " does not fit ",
                                     ChannelTypeToName(channel.type)));
}

// Any real number but a bool (numpy floats and ints included, through __float__/__index__).
double ToDouble(const ResolvedFlow& flow, const ResolvedChannel& channel, py::handle value) {
  PyObject* v = value.ptr();
  if (PyFloat_Check(v)) return PyFloat_AS_DOUBLE(v);
  if (PyBool_Check(v) || PyUnicode_Check(v) || PyBytes_Check(v) ||
      (!PyLong_Check(v) && !PyIndex_Check(v) && Py_TYPE(v)->tp_as_number == nullptr)) {
    WrongType(flow, channel, value);
  }
  const double d = PyFloat_AsDouble(v);
  if (d == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    WrongType(flow, channel, value);
  }
  return d;
}

// An int (or anything with __index__) but not a bool, within [min, max] of T.
template <typename T>
T ToInteger(const ResolvedFlow& flow, const ResolvedChannel& channel, py::handle value) {
  PyObject* v = value.ptr();
  if (PyBool_Check(v) || !PyIndex_Check(v)) WrongType(flow, channel, value);
  py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(v));
  if (!index) throw py::error_already_set();
  if constexpr (std::is_signed_v<T>) {
    int overflow = 0;
    const long long n = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow != 0 || n < std::numeric_limits<T>::min() ||
        n > std::numeric_limits<T>::max()) {
      OutOfRange(flow, channel, value);
    }
    return static_cast<T>(n);
  } else {
    const unsigned long long n = PyLong_AsUnsignedLongLong(index.ptr());
    if ((n == static_cast<unsigned long long>(-1) && PyErr_Occurred()) ||
        n > std::numeric_limits<T>::max()) {
      PyErr_Clear();
      OutOfRange(flow, channel, value);
    }
    return static_cast<T>(n);
  }
}

// An int key, or the name of one of the channel's enum types.
uint32_t ToEnumKey(const ResolvedFlow& flow, const ResolvedChannel& channel, py::handle value) {
  if (!PyUnicode_Check(value.ptr())) return ToInteger<uint32_t>(flow, channel, value);
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
  if (text == nullptr) throw py::error_already_set();
  auto it = channel.enum_keys.find(absl::string_view(text, size));
  if (it == channel.enum_keys.end()) {
    throw py::value_error(absl::StrCat("flow '", flow.name, "', channel '", channel.name,
                                       "': '", absl::string_view(text, size),
                                       "' is not one of its enum_types"));
  }
  return it->second;
}

std::string ToText(const ResolvedFlow& flow, const ResolvedChannel& channel, py::handle value) {
  if (!PyUnicode_Check(value.ptr())) WrongType(flow, channel, value);
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
  if (text == nullptr) throw py::error_already_set();
  return std::string(text, size);
}

std::string ToBytes(const ResolvedFlow& flow, const ResolvedChannel& channel, py::handle value) {
  PyObject* v = value.ptr();
  if (PyBytes_Check(v)) return std::string(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
  if (PyByteArray_Check(v)) return std::string(PyByteArray_AS_STRING(v), PyByteArray_GET_SIZE(v));
  WrongType(flow, channel, value);
}

ChannelValue ToChannelValue(const ResolvedFlow& flow, const ResolvedChannel& channel,
                            py::handle value) {
  if (value.is_none()) return ChannelValue::Empty();
  switch (channel.type) {
    case sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE:
      return ChannelValue::Double(ToDouble(flow, channel, value));
    case sift::common::type::v1::CHANNEL_DATA_TYPE_FLOAT:
      return ChannelValue::Float(static_cast<float>(ToDouble(flow, channel, value)));
    case sift::common::type::v1::CHANNEL_DATA_TYPE_INT_32:
      return ChannelValue::Int32(ToInteger<int32_t>(flow, channel, value));
    case sift::common::type::v1::CHANNEL_DATA_TYPE_INT_64:
      return ChannelValue::Int64(ToInteger<int64_t>(flow, channel, value));
    case sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_32:
      return ChannelValue::Uint32(ToInteger<uint32_t>(flow, channel, value));
    case sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_64:
      return ChannelValue::Uint64(ToInteger<uint64_t>(flow, channel, value));
    case sift::common::type::v1::CHANNEL_DATA_TYPE_BOOL:
      if (!PyBool_Check(value.ptr())) WrongType(flow, channel, value);
      return ChannelValue::Bool(value.ptr() == Py_True);
    case sift::common::type::v1::CHANNEL_DATA_TYPE_STRING:
      return ChannelValue::String(ToText(flow, channel, value));
    case sift::common::type::v1::CHANNEL_DATA_TYPE_ENUM:
      return ChannelValue::Enum(ToEnumKey(flow, channel, value));
    case sift::common::type::v1::CHANNEL_DATA_TYPE_BIT_FIELD:
      return ChannelValue::BitField(ToBytes(flow, channel, value));
    case sift::common::type::v1::CHANNEL_DATA_TYPE_BYTES:
      return ChannelValue::Bytes(ToBytes(flow, channel, value));
    default:
      WrongType(flow, channel, value);
  }
}

absl::Time FromSeconds(double seconds) {
  if (!std::isfinite(seconds)) throw py::value_error("timestamp must be finite");
  // Whole seconds apart from the fraction, so the nanoseconds are those of the double.
  const double whole = std::floor(seconds);
  return absl::FromUnixSeconds(static_cast<int64_t>(whole)) +
         absl::Nanoseconds(std::llround((seconds - whole) * 1e9));
}

bool IsDatetime(py::handle value) {
  // Imported once and kept for the life of the process (see errors.cc on why not static).
  static PyObject* datetime_class =
      py::object(py::module_::import("datetime").attr("datetime")).release().ptr();
  return PyObject_IsInstance(value.ptr(), datetime_class) == 1;
}

}  // namespace

ResolvedFlow Resolve(const sift::ingestion_configs::v2::FlowConfig& flow) {
  ResolvedFlow resolved{flow.name(), {}};
  for (const auto& config : flow.channels()) {
    ResolvedChannel channel{config.name(), config.data_type(), {}};
    for (const auto& type : config.enum_types()) channel.enum_keys[type.name()] = type.key();
    resolved.channels.push_back(std::move(channel));
  }
  return resolved;
}

ResolvedFlow InferFlow(const std::string& name, py::handle values) {
  py::object sequence = py::reinterpret_steal<py::object>(
      PySequence_Fast(values.ptr(), "values must be a list or tuple"));
  if (!sequence) throw py::error_already_set();
  const Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence.ptr());
  PyObject** items = PySequence_Fast_ITEMS(sequence.ptr());
  ResolvedFlow flow{name, {}};
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* v = items[i];
    // Bool before int: a bool is an int to Python, but a bool channel is what the user meant.
    ChannelDataType type = sift::common::type::v1::CHANNEL_DATA_TYPE_UNSPECIFIED;
    if (PyBool_Check(v)) {
      type = sift::common::type::v1::CHANNEL_DATA_TYPE_BOOL;
    } else if (PyLong_Check(v)) {
      type = sift::common::type::v1::CHANNEL_DATA_TYPE_INT_64;
    } else if (PyFloat_Check(v)) {
      type = sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE;
    } else if (PyUnicode_Check(v)) {
      type = sift::common::type::v1::CHANNEL_DATA_TYPE_STRING;
    } else if (PyBytes_Check(v) || PyByteArray_Check(v)) {
      type = sift::common::type::v1::CHANNEL_DATA_TYPE_BYTES;
    } else if (v != Py_None) {
      throw py::type_error(absl::StrCat(
          "flow '", name, "' is not declared, and value ", i, " (", TypeName(v),
          ") has no channel type to register it with: use bool, int, float, str or bytes, "
          "or declare the flow (add_flows)"));
    }
    flow.channels.push_back(ResolvedChannel{absl::StrCat("channel_", i), type, {}});
  }
  return flow;
}

void ToChannelValues(const ResolvedFlow& flow, py::handle values,
                     std::vector<ChannelValue>* out) {
  py::object sequence = py::reinterpret_steal<py::object>(
      PySequence_Fast(values.ptr(), "values must be a list or tuple"));
  if (!sequence) throw py::error_already_set();
  const Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence.ptr());
  if (static_cast<size_t>(count) != flow.channels.size()) {
    throw py::value_error(absl::StrCat("flow '", flow.name, "' has ", flow.channels.size(),
                                       " channels; ", count, " values given"));
  }
  PyObject** items = PySequence_Fast_ITEMS(sequence.ptr());
  out->clear();
  for (Py_ssize_t i = 0; i < count; ++i) {
    out->push_back(ToChannelValue(flow, flow.channels[i], items[i]));
  }
}

absl::Time ToTime(py::handle timestamp) {
  PyObject* t = timestamp.ptr();
  if (PyFloat_Check(t)) return FromSeconds(PyFloat_AS_DOUBLE(t));
  if (PyLong_Check(t) && !PyBool_Check(t)) {
    return absl::FromUnixSeconds(timestamp.cast<int64_t>());
  }
  if (IsDatetime(timestamp)) {
    // Exact to the microsecond: |error| of timestamp() * 1e6 stays far below 0.5.
    const double seconds = timestamp.attr("timestamp")().cast<double>();
    return absl::FromUnixMicros(std::llround(seconds * 1e6));
  }
  throw py::type_error(absl::StrCat(
      "timestamp must be seconds since the epoch (float) or a datetime, not ", TypeName(t)));
}

}  // namespace sift_stream::python
