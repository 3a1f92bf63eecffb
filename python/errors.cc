// python/errors.cc — the exception classes of errors.h, made with the C API so that the
// hierarchy (Error → ResourceExhausted, ...; InvalidArgument also a ValueError) is plain
// Python classes, picklable and catchable like any other.

#include "python/errors.h"

#include <string>

#include "engine/redact.h"

namespace sift_stream::python {
namespace {

namespace py = pybind11;

struct ErrorClass {
  absl::StatusCode code;
  const char* name;  // Class name in the module.
  bool retryable;
  bool value_error;  // Also a ValueError.
};

constexpr ErrorClass kClasses[] = {
    {absl::StatusCode::kCancelled, "Cancelled", false, false},
    {absl::StatusCode::kUnknown, "Unknown", false, false},
    {absl::StatusCode::kInvalidArgument, "InvalidArgument", false, true},
    {absl::StatusCode::kDeadlineExceeded, "DeadlineExceeded", true, false},
    {absl::StatusCode::kNotFound, "NotFound", false, false},
    {absl::StatusCode::kAlreadyExists, "AlreadyExists", false, false},
    {absl::StatusCode::kPermissionDenied, "PermissionDenied", false, false},
    {absl::StatusCode::kResourceExhausted, "ResourceExhausted", true, false},
    {absl::StatusCode::kFailedPrecondition, "FailedPrecondition", false, false},
    {absl::StatusCode::kAborted, "Aborted", true, false},
    {absl::StatusCode::kOutOfRange, "OutOfRange", false, true},
    {absl::StatusCode::kUnimplemented, "Unimplemented", false, false},
    {absl::StatusCode::kInternal, "Internal", false, false},
    {absl::StatusCode::kUnavailable, "Unavailable", true, false},
    {absl::StatusCode::kDataLoss, "DataLoss", false, false},
    {absl::StatusCode::kUnauthenticated, "Unauthenticated", false, false},
};

// absl's codes run 0..16. Raw, never-freed references: the module holds the classes too, and
// a static py::object would be released after the interpreter is gone.
constexpr int kCodeCount = 17;
PyObject* g_by_code[kCodeCount] = {};
PyObject* g_base = nullptr;

PyObject* NewClass(py::module_& module, const char* name, py::tuple bases, py::dict attrs,
                   const char* doc) {
  const std::string qualified = std::string(module.attr("__name__").cast<std::string>()) + "." +
                                name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), attrs.ptr());
  if (cls == nullptr) throw py::error_already_set();
  module.attr(name) = py::reinterpret_borrow<py::object>(cls);
  return cls;  // The new reference is kept for ever (see g_by_code).
}

void RegisterCodeClass(py::module_& module, const ErrorClass& spec) {
  py::tuple bases = spec.value_error
                        ? py::make_tuple(py::handle(g_base), py::handle(PyExc_ValueError))
                        : py::make_tuple(py::handle(g_base));
  py::dict attrs;
  attrs["code"] = absl::StatusCodeToString(spec.code);
  attrs["retryable"] = spec.retryable;
  g_by_code[static_cast<int>(spec.code)] =
      NewClass(module, spec.name, bases, attrs, "A sift_stream status; see `code`.");
}

PyObject* ClassOf(const absl::Status& status) {
  const int code = static_cast<int>(status.code());
  return code >= 0 && code < kCodeCount && g_by_code[code] != nullptr ? g_by_code[code] : g_base;
}

std::string MessageOf(const absl::Status& status, absl::string_view secret) {
  std::string message(status.message());
  // The engine's rule: short (test) keys only where they stand alone, so "k" does not mangle
  // every word with a k in it.
  return secret.empty() ? message : engine::RedactApiKey(message, secret);
}

}  // namespace

void RegisterErrors(py::module_& module) {
  py::dict attrs;
  attrs["code"] = py::none();
  attrs["retryable"] = false;
  g_base = NewClass(module, "Error", py::make_tuple(py::handle(PyExc_Exception)), attrs,
                    "Base class of every error sift_stream reports (an absl::Status).");
  for (const ErrorClass& spec : kClasses) RegisterCodeClass(module, spec);
}

void ThrowIfError(const absl::Status& status, absl::string_view secret) {
  if (status.ok()) return;
  PyErr_SetString(ClassOf(status), MessageOf(status, secret).c_str());
  throw py::error_already_set();
}

py::object ErrorObject(const absl::Status& status, absl::string_view secret) {
  if (status.ok()) return py::none();
  return py::handle(ClassOf(status))(MessageOf(status, secret));
}

}  // namespace sift_stream::python
