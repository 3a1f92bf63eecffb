#!/bin/sh
# Debian's protobuf-compiler-grpc plugin, as a Bazel executable target.
exec /usr/bin/grpc_cpp_plugin "$@"
