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

def _headers_dir(ctx):
    if ctx.attr.path:
        return ctx.attr.path

    # The first -I of e.g. `python3-config --includes`: the version-specific folder, so that
    # no Python version is written down here. Debian's config tool first, whatever PATH says
    # (a pyenv python3-config would name headers of another build).
    tool = ctx.attr.find_with[0]
    if not ctx.path(tool).exists:
        tool = ctx.which(tool.split("/")[-1])
    result = ctx.execute([tool] + ctx.attr.find_with[1:])
    for flag in result.stdout.split(" "):
        if flag.startswith("-I"):
            return flag[2:].strip()
    fail("%s: no -I in the output of %s: %s" % (ctx.name, ctx.attr.find_with, result.stderr))

def _headers_repo_impl(ctx):
    # One folder of system headers linked in under `link_as`, so that only it (not all of
    # /usr/include) is on the repository's include path (see _wkt_repo_impl).
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    ctx.symlink(_headers_dir(ctx), ctx.attr.link_as)
    ctx.symlink(ctx.attr.build_file, "BUILD.bazel")

_headers_repo = repository_rule(
    implementation = _headers_repo_impl,
    attrs = {
        "path": attr.string(),
        "find_with": attr.string_list(),
        "link_as": attr.string(mandatory = True),
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

    # The Python bindings (//python): header-only pybind11-dev and python3-dev's C API headers.
    _maybe(
        _headers_repo,
        "pybind11",
        skip,
        path = "/usr/include/pybind11",
        link_as = "pybind11",
        build_file = _tp("pybind11/BUILD.repo"),
    )
    _maybe(
        _headers_repo,
        "python3_headers",
        skip,
        find_with = ["/usr/bin/python3-config", "--includes"],
        link_as = "include",
        build_file = _tp("python3_headers/BUILD.repo"),
    )

    # Bazel 4.2.3's own Python toolchain starts every py_binary/py_test through
    # `#!/usr/bin/env python`, which Debian does not have: ours runs Debian's /usr/bin/python3.
    if "sift_stream_python_toolchain" not in skip:
        native.register_toolchains(str(Label("//python:python3_toolchain")))
