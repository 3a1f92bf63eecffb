"""One macro for Abseil targets backed by Debian's shared libabsl (20220623)."""

def absl_library(name, libs = [], deps = []):
    native.cc_library(
        name = name,
        linkopts = ["-labsl_" + lib for lib in libs],
        deps = deps,
        visibility = ["//visibility:public"],
    )
