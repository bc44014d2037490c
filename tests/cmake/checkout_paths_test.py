#!/usr/bin/env python3
"""No compile line but test_paths.cc's names the checkout's folders in a definition.

An absolute path in a -D option is part of what ccache hashes: an object compiled with one would
be compiled again in every clone of the tree (tests/test_paths.h says how tests find their files
instead). Reads the build's compile_commands.json.

usage: checkout_paths_test.py SOURCE_DIR BUILD_DIR
"""
import json
import os
import shlex
import sys

# test_paths.cc holds the paths; the checkpoint fuzz target copies a fixture (tests/fuzz).
ALLOWED_FILES = {"tests/test_paths.cc"}
ALLOWED_TARGETS = ("fuzz_checkpoint",)


def arguments(entry):
    return entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])


def output(entry):
    args = arguments(entry)
    flagged = (args[i + 1] for i, a in enumerate(args[:-1]) if a == "-o")
    return entry.get("output") or next(flagged, "?")


def definitions(entry):
    args = arguments(entry)
    out = []
    for i, arg in enumerate(args):
        if arg == "-D" and i + 1 < len(args):
            out.append(args[i + 1])
        elif arg.startswith("-D"):
            out.append(arg[2:])
    return out


def main():
    source, build = sys.argv[1], sys.argv[2]
    roots = {source, build, os.path.realpath(source), os.path.realpath(build)}
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    offenders = []
    seen_test_paths = False
    for entry in entries:
        relative = os.path.relpath(os.path.realpath(entry["file"]), os.path.realpath(source))
        seen_test_paths |= relative == "tests/test_paths.cc"
        if relative in ALLOWED_FILES or any(t in output(entry) for t in ALLOWED_TARGETS):
            continue
        for d in definitions(entry):
            if any(root in d for root in roots):
                offenders.append(f"{relative} ({output(entry)}): -D{d}")
    if not seen_test_paths:
        sys.exit("compile_commands.json has no tests/test_paths.cc: not a build with tests?")
    if offenders:
        print(f"{len(offenders)} compile line(s) name the checkout in a definition; use "
              "modelgrow_build_path / modelgrow_source_path (cmake/ModelGrowTesting.cmake):")
        for o in offenders:
            print("  " + o)
        sys.exit(1)
    print(f"{len(entries)} compile lines, none names the checkout outside tests/test_paths.cc")


if __name__ == "__main__":
    main()
