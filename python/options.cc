// python/options.cc — see options.h. Range errors are raised as InvalidArgument through
// errors.h, so that they are both ValueErrors (what Python code expects of a bad argument)
// and sift_stream.Errors (what the engine would have said in Build(), had it checked).

#include "python/options.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "python/errors.h"

namespace sift_stream::python {
namespace {

namespace py = pybind11;

[[noreturn]] void Invalid(const std::string& message) {
  ThrowIfError(absl::InvalidArgumentError(message), "");
  throw std::logic_error("ThrowIfError returned for an error");  // Unreachable.
}

std::string TypeName(py::handle value) { return Py_TYPE(value.ptr())->tp_name; }

bool IsTimedelta(py::handle value) {
  // Imported once and kept for the life of the process (see errors.cc on why not static).
  static PyObject* timedelta_class =
      py::object(py::module_::import("datetime").attr("timedelta")).release().ptr();
  return PyObject_IsInstance(value.ptr(), timedelta_class) == 1;
}

// A Python int (or __index__) as int64; OverflowError beyond it. Bools are refused by the
// callers first: True is an int to Python, but never a count or a duration the user meant.
int64_t IndexToInt64(py::handle value) {
  py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(value.ptr()));
  if (!index) throw py::error_already_set();
  const long long v = PyLong_AsLongLong(index.ptr());
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

// A float, or a number with __index__; TypeError otherwise (and for bools).
double NumberArg(py::handle value, const char* what, const char* expected) {
  PyObject* v = value.ptr();
  if (PyBool_Check(v) || !(PyFloat_Check(v) || PyIndex_Check(v))) {
    throw py::type_error(absl::StrCat(what, " must be ", expected, ", not ", TypeName(value)));
  }
  if (PyFloat_Check(v)) return PyFloat_AS_DOUBLE(v);
  return static_cast<double>(IndexToInt64(value));
}

}  // namespace

absl::Duration DurationArg(py::handle value, const char* what) {
  PyObject* v = value.ptr();
  absl::Duration d;
  if (IsTimedelta(value)) {
    // Its own fields, not total_seconds(): exact to the microsecond at any size.
    d = absl::Hours(24) * value.attr("days").cast<int64_t>() +
        absl::Seconds(value.attr("seconds").cast<int64_t>()) +
        absl::Microseconds(value.attr("microseconds").cast<int64_t>());
  } else if (PyFloat_Check(v)) {
    const double seconds = PyFloat_AS_DOUBLE(v);
    if (std::isnan(seconds)) Invalid(absl::StrCat(what, " must be a number of seconds, not nan"));
    d = absl::Seconds(seconds);  // +inf: for ever (absl::InfiniteDuration).
  } else if (!PyBool_Check(v) && PyIndex_Check(v)) {
    d = absl::Seconds(IndexToInt64(value));
  } else {
    throw py::type_error(absl::StrCat(what,
                                      " must be seconds (float or int) or a datetime.timedelta, "
                                      "not ",
                                      TypeName(value)));
  }
  if (d < absl::ZeroDuration()) {
    Invalid(absl::StrCat(what, " must be >= 0 seconds, got ", absl::FormatDuration(d)));
  }
  return d;
}

uint64_t CountArg(py::handle value, const char* what, uint64_t min, uint64_t max) {
  PyObject* v = value.ptr();
  if (PyBool_Check(v) || !PyIndex_Check(v)) {
    throw py::type_error(absl::StrCat(what, " must be an int, not ", TypeName(value)));
  }
  const int64_t n = IndexToInt64(value);
  if (n < 0 || static_cast<uint64_t>(n) < min) {
    Invalid(absl::StrCat(what, " must be >= ", min, ", got ", n));
  }
  if (static_cast<uint64_t>(n) > max) {
    Invalid(absl::StrCat(what, " must be at most ", max, ", got ", n));
  }
  return static_cast<uint64_t>(n);
}

double RateArg(py::handle value, const char* what) {
  const double rate = NumberArg(value, what, "messages per second (float or int)");
  if (!std::isfinite(rate) || rate < 0) {
    Invalid(absl::StrCat(what, " must be a finite number >= 0 (0: no cap), got ",
                         py::repr(value).cast<std::string>()));
  }
  return rate;
}

SyncPolicy SyncFromPython(py::handle policy, py::handle every, py::handle every_bytes) {
  const int given = !policy.is_none() + !every.is_none() + !every_bytes.is_none();
  if (given != 1) {
    Invalid(
        "sync() takes exactly one of: \"on_flush\", \"never\", every=<seconds or timedelta>, "
        "every_bytes=<n>");
  }
  if (!every.is_none()) {
    const absl::Duration interval = DurationArg(every, "sync(every=)");
    // Zero would mean fdatasync after every write; the engine refuses it too.
    if (interval == absl::ZeroDuration()) Invalid("sync(every=) must be > 0 seconds");
    return SyncPolicy::Every(interval);
  }
  if (!every_bytes.is_none()) {
    return SyncPolicy::EveryBytes(CountArg(every_bytes, "sync(every_bytes=)", 1));
  }
  if (!PyUnicode_Check(policy.ptr())) {
    throw py::type_error(
        absl::StrCat("sync() policy must be \"on_flush\" or \"never\", not ", TypeName(policy)));
  }
  const std::string name = policy.cast<std::string>();
  if (name == "on_flush") return SyncPolicy::OnFlush();
  if (name == "never") return SyncPolicy::Never();
  Invalid(absl::StrCat("unknown sync policy '", name,
                       "' (\"on_flush\", \"never\", or every= / every_bytes=)"));
}

RetryPolicy RetryFromPython(py::handle max_attempts, py::handle initial_backoff,
                            py::handle max_backoff, py::handle multiplier, py::handle jitter,
                            const char* caller) {
  RetryPolicy retry;
  const std::string prefix = absl::StrCat(caller, "(");
  if (!max_attempts.is_none()) {
    retry.max_attempts = static_cast<int>(CountArg(max_attempts,
                                                   (prefix + "max_attempts=)").c_str(), 0,
                                                   std::numeric_limits<int>::max()));
  }
  if (!initial_backoff.is_none()) {
    retry.initial_backoff = DurationArg(initial_backoff, (prefix + "initial_backoff=)").c_str());
  }
  if (!max_backoff.is_none()) {
    retry.max_backoff = DurationArg(max_backoff, (prefix + "max_backoff=)").c_str());
  }
  if (retry.initial_backoff > retry.max_backoff) {
    Invalid(absl::StrCat(caller, "(): initial_backoff (",
                         absl::FormatDuration(retry.initial_backoff),
                         ") is longer than max_backoff (", absl::FormatDuration(retry.max_backoff),
                         ")"));
  }
  if (!multiplier.is_none()) {
    const std::string what = prefix + "multiplier=)";
    retry.multiplier = NumberArg(multiplier, what.c_str(), "a float");
    // Below 1 the backoff would shrink after each failure: a retry storm against a server
    // that is already failing.
    if (!(retry.multiplier >= 1) || !std::isfinite(retry.multiplier)) {
      Invalid(absl::StrCat(what, " must be a finite number >= 1, got ", retry.multiplier));
    }
  }
  if (!jitter.is_none()) {
    const std::string what = prefix + "jitter=)";
    retry.jitter = NumberArg(jitter, what.c_str(), "a float");
    // Above 1 the random factor could make a backoff negative.
    if (!(retry.jitter >= 0 && retry.jitter <= 1)) {
      Invalid(absl::StrCat(what, " must be between 0 and 1, got ", retry.jitter));
    }
  }
  return retry;
}

RunSpec RunFromPython(std::string name, std::string client_key, std::string run_id,
                      std::string description, std::vector<std::string> tags,
                      const char* caller) {
  RunSpec run;
  run.kind = !run_id.empty()       ? RunSpec::Kind::kById
             : !client_key.empty() ? RunSpec::Kind::kByClientKey
                                   : RunSpec::Kind::kNew;
  if (run.kind == RunSpec::Kind::kNew && name.empty()) {
    throw py::value_error(absl::StrCat(caller, "() needs a name, a client_key or a run_id"));
  }
  run.name = std::move(name);
  run.client_key = std::move(client_key);
  run.run_id = std::move(run_id);
  run.description = std::move(description);
  run.tags = std::move(tags);
  return run;
}

}  // namespace sift_stream::python
