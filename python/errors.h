// python/errors.h — absl::Status as Python exceptions.
//
// Every non-OK absl::StatusCode has a class, all under sift_stream.Error, so that Python code
// can catch one code (`except sift_stream.ResourceExhausted`) or all of them. Each class
// carries `code` ("RESOURCE_EXHAUSTED") and `retryable` (True where trying again later may
// succeed without changing anything: ResourceExhausted, Unavailable, DeadlineExceeded,
// Aborted). InvalidArgument and OutOfRange are also ValueErrors, as Python code expects of a
// bad argument. The message is the engine's, word for word, except that the API key is never
// in it (the engine does not put it there; this layer makes sure).

#ifndef SIFT_STREAM_PYTHON_ERRORS_H_
#define SIFT_STREAM_PYTHON_ERRORS_H_

#include <pybind11/pybind11.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sift_stream::python {

// Creates the classes as attributes of `module`; once, at import.
void RegisterErrors(pybind11::module_& module);

// Raises the class of `status.code()` (via pybind11::error_already_set) unless it is OK.
// `secret` (the API key) is cut out of the message wherever it appears. Needs the GIL.
void ThrowIfError(const absl::Status& status, absl::string_view secret);

// The exception ThrowIfError would raise, as an object not raised (None for OK): for results
// that report a status beside other fields (Stream.finish_with_report). Needs the GIL.
pybind11::object ErrorObject(const absl::Status& status, absl::string_view secret);

}  // namespace sift_stream::python

#endif  // SIFT_STREAM_PYTHON_ERRORS_H_
