// python/builder.h — sift_stream.Builder: SiftStreamBuilder's options as chained Python
// methods; build() returns a sift_stream.Stream (stream.h).

#ifndef SIFT_STREAM_PYTHON_BUILDER_H_
#define SIFT_STREAM_PYTHON_BUILDER_H_

#include <pybind11/pybind11.h>

namespace sift_stream::python {

// Adds Builder to the module; once, at import.
void RegisterBuilder(pybind11::module_& module);

}  // namespace sift_stream::python

#endif  // SIFT_STREAM_PYTHON_BUILDER_H_
