// python/options.h — Python arguments as the engine's option types (durations, counts, rates,
// sync and retry policies, run specs), checked where the caller passes them.
//
// The engine checks some of these only in Build() and some not at all (a RetryPolicy with a
// negative backoff or a jitter of 3 is taken as given); a Python caller should hear about a
// bad value at the line that passed it. So every check here raises at once: TypeError for the
// wrong kind of value, ValueError for the right kind out of range, naming the argument. All
// need the GIL.

#ifndef SIFT_STREAM_PYTHON_OPTIONS_H_
#define SIFT_STREAM_PYTHON_OPTIONS_H_

#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "engine/sift_stream.h"

namespace sift_stream::python {

// A float or int of seconds, or a datetime.timedelta (exact to its microsecond); >= 0 and
// finite. `what` names the argument in errors ("checkpoint_interval").
absl::Duration DurationArg(pybind11::handle value, const char* what);

// A non-bool int (or anything with __index__) in [min, max].
uint64_t CountArg(pybind11::handle value, const char* what, uint64_t min,
                  uint64_t max = std::numeric_limits<int64_t>::max());

// Builder.sync: exactly one of a policy name ("on_flush", "never"), `every` (a duration) or
// `every_bytes` (a count >= 1). None means "not given".
SyncPolicy SyncFromPython(pybind11::handle policy, pybind11::handle every,
                          pybind11::handle every_bytes);

// Builder.live_retry and reingest_retry: fields left None keep the engine's defaults.
// max_attempts >= 0 (0: for ever), backoffs durations with initial <= max, multiplier >= 1,
// jitter in [0, 1]. `caller` prefixes the errors.
RetryPolicy RetryFromPython(pybind11::handle max_attempts, pybind11::handle initial_backoff,
                            pybind11::handle max_backoff, pybind11::handle multiplier,
                            pybind11::handle jitter, const char* caller);

// A finite float or int >= 0: Builder.reingest_rate_limit (0: no cap).
double RateArg(pybind11::handle value, const char* what);

// By id, else found (or made) by client_key, else a new run named `name`: Builder.run and
// Stream.attach_run take the same arguments. ValueError when none of the three is given.
RunSpec RunFromPython(std::string name, std::string client_key, std::string run_id,
                      std::string description, std::vector<std::string> tags,
                      const char* caller);

}  // namespace sift_stream::python

#endif  // SIFT_STREAM_PYTHON_OPTIONS_H_
