"""cc_grpc_library for Debian's grpc_cpp_plugin, with upstream gRPC's calling convention.

Only the `grpc_only = True` form is supported: `srcs` names one proto_library, `deps` its
cc_proto_library. A monorepo using the real com_github_grpc_grpc loads upstream's rule under the
same label and our BUILD files keep working.
"""

def _import_path(src, proto_info):
    root = proto_info.proto_source_root
    path = src.path
    if root not in ("", ".") and path.startswith(root + "/"):
        return path[len(root) + 1:]
    return path

def _grpc_codegen_impl(ctx):
    proto_info = ctx.attr.proto[ProtoInfo]
    headers = []
    sources = []
    import_paths = []
    package = ctx.label.package
    for src in proto_info.direct_sources:
        import_path = _import_path(src, proto_info)
        import_paths.append(import_path)
        if not import_path.startswith(package + "/"):
            fail("%s must sit under package %s" % (import_path, package))
        stem = import_path[len(package) + 1:-len(".proto")]
        headers.append(ctx.actions.declare_file(stem + ".grpc.pb.h"))
        sources.append(ctx.actions.declare_file(stem + ".grpc.pb.cc"))

    out_root = ctx.bin_dir.path
    if ctx.label.workspace_root:
        out_root += "/" + ctx.label.workspace_root
    descriptor_sets = proto_info.transitive_descriptor_sets
    args = ctx.actions.args()
    args.add("--plugin=protoc-gen-grpc=" + ctx.executable._plugin.path)
    args.add("--grpc_out=" + out_root)
    args.add_joined(descriptor_sets, join_with = ":", format_joined = "--descriptor_set_in=%s")
    args.add_all(import_paths)
    ctx.actions.run(
        executable = ctx.executable._protoc,
        arguments = [args],
        inputs = descriptor_sets,
        tools = [ctx.executable._plugin],
        outputs = headers + sources,
        mnemonic = "GrpcCppCodegen",
        progress_message = "Generating gRPC C++ stubs for %s" % ctx.label,
    )
    return [
        DefaultInfo(files = depset(headers + sources)),
        OutputGroupInfo(headers = depset(headers), sources = depset(sources)),
    ]

_grpc_codegen = rule(
    implementation = _grpc_codegen_impl,
    attrs = {
        "proto": attr.label(mandatory = True, providers = [ProtoInfo]),
        "_protoc": attr.label(
            default = Label("@com_google_protobuf//:protoc"),
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
    """C++ gRPC stubs for the services of one proto_library.

    Args:
      name: the cc_library to create.
      srcs: a one-element list naming the proto_library.
      deps: the cc_proto_library of the same proto_library.
      grpc_only: must be True (as with upstream when the messages come from cc_proto_library).
      **kwargs: passed to the cc_library (visibility, testonly, ...).
    """
    if not grpc_only or len(srcs) != 1:
        fail("cc_grpc_library here supports grpc_only = True with exactly one proto_library")
    codegen = name + "__grpc_codegen"
    _grpc_codegen(name = codegen, proto = srcs[0], visibility = ["//visibility:private"])
    native.filegroup(name = codegen + "_hdrs", srcs = [codegen], output_group = "headers")
    native.filegroup(name = codegen + "_srcs", srcs = [codegen], output_group = "sources")
    native.cc_library(
        name = name,
        srcs = [codegen + "_srcs"],
        hdrs = [codegen + "_hdrs"],
        deps = deps + [Label("//:grpc++")],
        **kwargs
    )
