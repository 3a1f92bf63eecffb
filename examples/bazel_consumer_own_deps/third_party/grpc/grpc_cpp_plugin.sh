#!/bin/sh
# Debian's gRPC C++ code generator (protobuf-compiler-grpc) as a Bazel executable.
exec /usr/bin/grpc_cpp_plugin "$@"
