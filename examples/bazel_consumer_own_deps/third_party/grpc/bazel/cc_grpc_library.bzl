"""cc_grpc_library with upstream gRPC's signature, for this example's Debian-based gRPC.

Only what sift_stream's BUILD files use: `grpc_only = True`, one proto_library in `srcs` (its
files under the calling package, no import prefixes), its cc_proto_library in `deps`. protoc finds imports through
the proto_library's import roots (ProtoInfo.transitive_proto_path).
"""

def _stubs_impl(ctx):
    info = ctx.attr.src[ProtoInfo]
    package = ctx.label.package
    headers, sources, names = [], [], []
    for proto in info.direct_sources:
        # The path inside its repository is the import path (no import prefixes here);
        # short_path starts with "../<repo>/" for a file of another repository.
        path = proto.short_path
        if path.startswith("../"):
            path = path.split("/", 2)[2]
        stem = path[len(package) + 1:-len(".proto")]  # Outputs are declared per package.
        headers.append(ctx.actions.declare_file(stem + ".grpc.pb.h"))
        sources.append(ctx.actions.declare_file(stem + ".grpc.pb.cc"))
        names.append(path)

    out = ctx.bin_dir.path
    if ctx.label.workspace_root:
        out += "/" + ctx.label.workspace_root
    args = ctx.actions.args()
    args.add(ctx.executable._plugin.path, format = "--plugin=protoc-gen-grpc=%s")
    args.add(out, format = "--grpc_out=%s")
    args.add_all(info.transitive_proto_path, format_each = "--proto_path=%s")
    args.add_all(names)
    ctx.actions.run(
        executable = ctx.executable._protoc,
        arguments = [args],
        inputs = info.transitive_sources,
        tools = [ctx.executable._plugin],
        outputs = headers + sources,
        mnemonic = "GrpcStubs",
    )
    return [
        DefaultInfo(files = depset(headers + sources)),
        OutputGroupInfo(hdrs = depset(headers), srcs = depset(sources)),
    ]

_stubs = rule(
    implementation = _stubs_impl,
    attrs = {
        "src": attr.label(mandatory = True, providers = [ProtoInfo]),
        "_protoc": attr.label(
            default = "@com_google_protobuf//:protoc",
            executable = True,
            cfg = "host",
        ),
        "_plugin": attr.label(
            default = Label("//:grpc_cpp_plugin"),
            executable = True,
            cfg = "host",
        ),
    },
)

def cc_grpc_library(name, srcs, deps, grpc_only = False, **kwargs):
    if not grpc_only or len(srcs) != 1:
        fail("this cc_grpc_library supports only grpc_only = True with one proto_library")
    _stubs(name = name + "_stubs", src = srcs[0])
    for group in ("hdrs", "srcs"):
        native.filegroup(
            name = "%s_stub_%s" % (name, group),
            srcs = [name + "_stubs"],
            output_group = group,
        )
    native.cc_library(
        name = name,
        hdrs = [name + "_stub_hdrs"],
        srcs = [name + "_stub_srcs"],
        deps = deps + [Label("//:grpc++")],
        **kwargs
    )
