#!/bin/sh
# The protoc Bazel's proto rules run (@com_google_protobuf//:protoc): Debian's.
exec /usr/bin/protoc "$@"
