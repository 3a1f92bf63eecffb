#!/usr/bin/env bash
# Builds and tests the example workspaces that consume sift_stream as an external repository
# (docs/bazel.md, "Using sift_stream from another workspace"):
#   bazel_consumer/           sift_stream_deps() declares everything
#   bazel_consumer_own_deps/  its own com_google_protobuf and com_github_grpc_grpc, skipped in
#                             sift_stream_deps(skip = [...])
# Each runs `bazel test //...`: it builds a program against @sift_stream//engine:sift_stream
# and streams 100 messages into @sift_stream//testing:fake_sift_server.
#
# Why not a test of the main workspace: the examples are separate workspaces, so checking them
# means running Bazel inside Bazel, whose sandbox hides the disk cache (every run would compile
# gRPC stubs and the engine cold, ~1 minute per workspace) and whose result cache cannot see
# edits to the sources the nested build reads. .ci/run calls this script instead.
#
# Env: EXAMPLES_DISK_CACHE (default ~/.cache/bazel-disk, shared with the main workspace's
# .bazelrc so repeated runs are fast); EXAMPLES_EXPUNGE=1 deletes each example's output base
# afterwards (CI clones into a new folder every run, so output bases would pile up).
# Prints one "examples/<name>: OK|FAILED in Ns" line per workspace; exit 0 only if both pass.
set -uo pipefail
cd "$(dirname "$0")"
cache=${EXAMPLES_DISK_CACHE:-$HOME/.cache/bazel-disk}
status=0
for workspace in bazel_consumer bazel_consumer_own_deps; do
  start=$(date +%s)
  # --symlink_prefix=/: no bazel-* links in the example folders (and so none for the main
  # workspace's `//...` to wander into; .bazelignore keeps it out of examples/ anyway).
  if (cd "$workspace" && bazel test --disk_cache="$cache" --symlink_prefix=/ //...); then
    result=OK
  else
    result=FAILED
    status=1
  fi
  if [ "${EXAMPLES_EXPUNGE:-0}" = 1 ]; then
    (cd "$workspace" && bazel clean --expunge)
  else
    (cd "$workspace" && bazel shutdown)  # One Bazel server (~300 MB) per workspace otherwise.
  fi
  echo "examples/$workspace: $result in $(( $(date +%s) - start ))s"
done
exit $status
