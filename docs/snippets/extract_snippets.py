#!/usr/bin/env python3
"""Writes each fenced code block of one language in the given Markdown files to a file.

Block n (from 1) of `docs/foo.md` becomes `foo_<n>.inc` in the folder of the first path given
to --outs. The set of blocks found must equal --outs exactly, so that a snippet added to the
docs without a compile test (or one removed without updating the BUILD file) fails the build.
"""
import argparse
import os
import re
import sys

FENCE = re.compile(r"^```(\S*)\s*$")


def blocks(text, language):
    """Yields (first line number, code) of each ```language block."""
    inside, start, lines = None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        fence = FENCE.match(line)
        if inside is None:
            if fence and fence.group(1):
                inside, start, lines = fence.group(1), number + 1, []
            elif fence:
                inside, start, lines = "", number + 1, []
            continue
        if line.rstrip() == "```":
            if inside == language:
                yield start, "\n".join(lines) + "\n"
            inside = None
            continue
        lines.append(line)
    if inside is not None:
        sys.exit(f"unterminated ``` block starting at line {start - 1}")


def locate(path, line, code, language):
    """Makes compiler errors and tracebacks name the Markdown file and its line."""
    if language == "cpp":
        return f"// {path}:{line}\n#line {line} \"{path}\"\n{code}"
    return "\n" * (line - 1) + code  # Python: the same line numbers, by padding.


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--language", required=True)
    parser.add_argument("--outs", nargs="+", required=True)
    parser.add_argument("--markdown", nargs="+", required=True)
    args = parser.parse_args()
    out_dir = os.path.dirname(args.outs[0])
    wanted = {os.path.basename(p) for p in args.outs}
    found = {}
    for path in args.markdown:
        stem = os.path.splitext(os.path.basename(path))[0]
        with open(path, encoding="utf-8") as f:
            for n, (line, code) in enumerate(blocks(f.read(), args.language), 1):
                name = f"{stem}_{n}.inc"
                found[name] = locate(path, line, code, args.language)
    unlisted = sorted(set(found) - wanted)
    missing = sorted(wanted - set(found))
    if unlisted or missing:
        sys.exit("docs/snippets/BUILD.bazel and the docs disagree about the ```"
                 f"{args.language} blocks: in the docs but not compiled: {unlisted or 'none'};"
                 f" listed but not in the docs: {missing or 'none'}")
    for name, code in found.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.write(code)


if __name__ == "__main__":
    main()
