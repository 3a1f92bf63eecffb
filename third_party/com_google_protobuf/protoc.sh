#!/bin/sh
# Bazel's proto rules run @com_google_protobuf//:protoc; ours is Debian's protobuf-compiler.
exec /usr/bin/protoc "$@"
