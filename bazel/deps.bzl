"""External repositories of sift_stream, all wrapping Debian system packages.

Call `sift_stream_deps()` from WORKSPACE. Each repository keeps the name its upstream project
uses, so a monorepo that already declares (say) the real `com_google_protobuf` keeps its own:
a repository that already exists is never redeclared, and any name listed in `skip` is left
for the caller to provide. See docs/bazel.md.
"""

def _system_repo_impl(ctx):
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    for src, dest in ctx.attr.files.items():
        ctx.symlink(src, dest)

# A repository assembled from files kept in this repository's third_party/ folder. Labels
# (not paths) name the files, so this works whether sift_stream is the main repository or an
# external one of a monorepo.
_system_repo = repository_rule(
    implementation = _system_repo_impl,
    attrs = {"files": attr.label_keyed_string_dict(allow_files = True)},
    local = True,
)

def _wkt_repo_impl(ctx):
    # Only the .proto files: a repository over all of /usr/include would put every system
    # header on an include path of its own, which Bazel's header check rejects when actions
    # run unsandboxed (--spawn_strategy=local).
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    source = ctx.path(ctx.attr.path)
    for entry in source.readdir():
        if entry.basename.endswith(".proto"):
            ctx.symlink(entry, "google/protobuf/" + entry.basename)
    ctx.symlink(ctx.attr.build_file, "BUILD.bazel")

_wkt_repo = repository_rule(
    implementation = _wkt_repo_impl,
    attrs = {
        "path": attr.string(mandatory = True),
        "build_file": attr.label(allow_single_file = True),
    },
    local = True,
)

def _tp(path):
    return Label("//third_party:" + path)

# name -> {file in third_party/: path inside the generated repository}
_REPOS = {
    "rules_cc": {
        "rules_cc/BUILD.repo": "BUILD.bazel",
        "rules_cc/cc_BUILD.repo": "cc/BUILD.bazel",
        "rules_cc/defs.bzl": "cc/defs.bzl",
    },
    "remote_coverage_tools": {
        "remote_coverage_tools/BUILD.repo": "BUILD.bazel",
        "remote_coverage_tools/unsupported.sh": "unsupported.sh",
    },
    "com_google_protobuf": {
        "com_google_protobuf/BUILD.repo": "BUILD.bazel",
        "com_google_protobuf/protoc.sh": "protoc.sh",
    },
    "com_github_grpc_grpc": {
        "com_github_grpc_grpc/BUILD.repo": "BUILD.bazel",
        "com_github_grpc_grpc/bazel_BUILD.repo": "bazel/BUILD.bazel",
        "com_github_grpc_grpc/cc_grpc_library.bzl": "bazel/cc_grpc_library.bzl",
        "com_github_grpc_grpc/grpc_cpp_plugin.sh": "grpc_cpp_plugin.sh",
    },
    "com_google_absl": {
        "com_google_absl/BUILD.repo": "BUILD.bazel",
        "com_google_absl/absl.bzl": "absl.bzl",
        "com_google_absl/base_BUILD.repo": "absl/base/BUILD.bazel",
        "com_google_absl/container_BUILD.repo": "absl/container/BUILD.bazel",
        "com_google_absl/status_BUILD.repo": "absl/status/BUILD.bazel",
        "com_google_absl/strings_BUILD.repo": "absl/strings/BUILD.bazel",
        "com_google_absl/synchronization_BUILD.repo": "absl/synchronization/BUILD.bazel",
        "com_google_absl/time_BUILD.repo": "absl/time/BUILD.bazel",
        "com_google_absl/types_BUILD.repo": "absl/types/BUILD.bazel",
        "com_google_absl/cleanup_BUILD.repo": "absl/cleanup/BUILD.bazel",
        "com_google_absl/random_BUILD.repo": "absl/random/BUILD.bazel",
        "com_google_absl/functional_BUILD.repo": "absl/functional/BUILD.bazel",
    },
    "com_google_googletest": {"com_google_googletest/BUILD.repo": "BUILD.bazel"},
    "com_github_gflags_gflags": {"com_github_gflags_gflags/BUILD.repo": "BUILD.bazel"},
    "com_github_google_benchmark": {"com_github_google_benchmark/BUILD.repo": "BUILD.bazel"},
    "com_github_google_glog": {"com_github_google_glog/BUILD.repo": "BUILD.bazel"},
    "com_github_civetweb_civetweb": {"com_github_civetweb_civetweb/BUILD.repo": "BUILD.bazel"},
    "liburing": {"liburing/BUILD.repo": "BUILD.bazel"},
    "zlib": {"zlib/BUILD.repo": "BUILD.bazel"},
}

def _maybe(rule, name, skip, **kwargs):
    if name in skip or native.existing_rule(name):
        return
    rule(name = name, **kwargs)

def sift_stream_deps(skip = []):
    """Declares sift_stream's external repositories (Debian system libraries).

    Args:
      skip: repository names the caller declares itself, e.g. ["com_google_protobuf"].
        Repositories declared before this call are kept even when not listed.
    """
    for name, files in _REPOS.items():
        _maybe(
            _system_repo,
            name,
            skip,
            files = {_tp(src): dest for src, dest in files.items()},
        )
    _maybe(
        native.local_repository,
        "rules_java",
        skip,
        path = "/usr/share/bazel/rules/java",
    )

    # The well-known .proto files ship with libprotobuf-dev in /usr/include/google/protobuf.
    _maybe(
        _wkt_repo,
        "com_google_protobuf_wkt",
        skip,
        path = "/usr/include/google/protobuf",
        build_file = _tp("com_google_protobuf/BUILD.wkt"),
    )
