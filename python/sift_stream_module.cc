// python/sift_stream_module.cc — `import sift_stream`: the engine's public API for Python.
//
//   stream = (sift_stream.Builder()
//             .uri("api.siftstack.com:443").api_key(key)
//             .ingestion_config(asset_name="rover-7", client_key="rover-7-v1", flows=[imu])
//             .backups(backup_dir="/var/lib/rover/sift")
//             .build())
//   imu = stream.flow("imu")           # resolved once
//   imu.send(time.time(), [ax, ay, az])
//   stream.finish(30)
//
// Depends only on the engine's public headers. The pieces, one concept each: builder.h (the
// options), options.h (Python arguments as the engine's option types, checked at the call),
// stream.h (a built stream and its flow handles, and where the GIL is released), reports.h
// (metrics and reports as dicts), flow_spec.h, values.h, errors.h. See docs/python.md.

#include <pybind11/pybind11.h>

#include "python/builder.h"
#include "python/errors.h"
#include "python/flow_spec.h"
#include "python/stream.h"

// The module's only exported symbol is PyInit_sift_stream (see sift_stream.lds).
PYBIND11_MODULE(sift_stream, m) {
  m.doc() = "Stream telemetry to Sift without losing a data point (sift_stream C++ engine).";
  sift_stream::python::RegisterErrors(m);
  sift_stream::python::RegisterFlowSpecClasses(m);
  sift_stream::python::RegisterBuilder(m);
  sift_stream::python::RegisterStream(m);
}
