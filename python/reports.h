// python/reports.h — what a stream can tell about itself, as plain Python dicts and lists:
// Stream.metrics(), finish_with_report() and recent_checkpoints(). Dicts rather than classes
// so that they print, compare and serialize (json.dumps) as they are; keys are the C++ field
// names, with durations as float seconds under an `_s` suffix. Need the GIL.

#ifndef SIFT_STREAM_PYTHON_REPORTS_H_
#define SIFT_STREAM_PYTHON_REPORTS_H_

#include <pybind11/pybind11.h>

#include <vector>

#include "absl/strings/string_view.h"
#include "engine/finish_report.h"
#include "engine/sift_stream.h"

namespace sift_stream::python {

pybind11::dict MetricsToPython(const SiftStreamMetrics& metrics);

// The status is an exception object under "error" (None when OK), not raised: the report is
// wanted even when Finish failed. `secret` (the API key) is cut out of its message.
pybind11::dict ReportToPython(const FinishReport& report, absl::string_view secret);

// Oldest first, as SiftStream::RecentCheckpoints; `ended` as float seconds since the epoch.
pybind11::list CheckpointsToPython(const std::vector<CheckpointOutcome>& checkpoints);

}  // namespace sift_stream::python

#endif  // SIFT_STREAM_PYTHON_REPORTS_H_
