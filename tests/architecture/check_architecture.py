#!/usr/bin/env python3
"""Checks the include structure docs/architecture.md promises; run by ctest.

  check_architecture.py SOURCE_DIR sdk       the SDK's include closure is the documented set
  check_architecture.py SOURCE_DIR plugins   plugins include only the SDK (and their own files)
  check_architecture.py SOURCE_DIR layers    core's lower layers never include higher ones

Each check prints every violation with the chain or file that causes it and exits 1.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

# Core headers the SDK re-exports (sdk/model.h, sdk/video_shards.h): part of the plugin binary
# interface, covered by MODELGROW_SDK_API_VERSION.
SDK_REEXPORTS = {
    "modelgrow/model/stdit3.h", "modelgrow/model/block.h", "modelgrow/model/config.h",
    "modelgrow/model/embedders.h", "modelgrow/model/attention.h", "modelgrow/model/linear.h",
    "modelgrow/model/precision.h", "modelgrow/data/video_shard_reader.h",
    "modelgrow/data/shard_paths.h",
}

# Core layers from the bottom up; a file may include its own layer and the ones below.
LAYERS = [
    {"sdk"},
    {"base"},
    {"dist"},
    {"model"},
    {"diffusion", "io", "data", "text"},
    {"growth", "train", "eval"},
    {"host"},
    {"experiment"},
    {"cli"},
]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def includes(path):
    return INCLUDE.findall(read(path))


def header_path(root, include):
    for base in ("core/include", "plugins/include"):
        p = os.path.join(root, base, include)
        if os.path.exists(p):
            return p
    if include == "modelgrow/sdk/api_version.h":  # generated from api_version.h.in
        return os.path.join(root, "plugins/include/modelgrow/sdk/api_version.h.in")
    return None


def check_sdk(root):
    sdk_dir = os.path.join(root, "plugins/include/modelgrow/sdk")
    todo = [("modelgrow/sdk/" + f, []) for f in sorted(os.listdir(sdk_dir)) if f.endswith(".h")]
    seen, bad = set(), []
    while todo:
        name, chain = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if not name.startswith("modelgrow/sdk/") and name not in SDK_REEXPORTS:
            bad.append(" -> ".join(chain + [name]))
            continue
        path = header_path(root, name)
        if path is None:
            bad.append(" -> ".join(chain + [name]) + " (not found)")
            continue
        for inc in includes(path):
            if inc.startswith("modelgrow/"):
                todo.append((inc, chain + [name]))
    return [f"the SDK reaches a core header it does not export: {b}" for b in bad]


def plugin_sources(root):
    for top in ("growth_ops", "text_encoders", "datasets", "plugins/template"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith((".cc", ".h")) and not f.endswith("_test.cc"):
                    yield os.path.join(dirpath, f)


def check_plugins(root):
    bad = []
    for path in plugin_sources(root):
        rel = os.path.relpath(path, root)
        for inc in includes(path):
            if inc.startswith("modelgrow/"):
                if not inc.startswith("modelgrow/sdk/"):
                    bad.append(f"{rel}: includes {inc}, a core header the SDK does not export")
            elif inc.startswith("common/"):
                if not rel.startswith("text_encoders/"):
                    bad.append(f"{rel}: includes {inc} (the text encoders' shared library)")
            elif not os.path.exists(os.path.join(os.path.dirname(path), inc)):
                bad.append(f"{rel}: includes \"{inc}\", which is not in its own folder")
    return bad


def layer_of(rel):
    # core/include/modelgrow/<layer>/..., core/src/<layer>/..., core/cli/...
    parts = rel.split("/")
    if parts[:2] == ["core", "cli"]:
        return "cli"
    if parts[:3] == ["core", "include", "modelgrow"]:
        return parts[3]
    if parts[:2] == ["core", "src"]:
        return parts[2]
    return None


def rank(layer):
    for i, group in enumerate(LAYERS):
        if layer in group:
            return i
    return None


def check_layers(root):
    bad = []
    for top in ("core/include/modelgrow", "core/src", "core/cli"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if not f.endswith((".cc", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                own = layer_of(rel)
                if own is None or rank(own) is None:
                    bad.append(f"{rel}: not in any known layer")
                    continue
                for inc in includes(path):
                    if not inc.startswith("modelgrow/"):
                        continue
                    target = inc.split("/")[1]
                    if rank(target) is None:
                        bad.append(f"{rel}: includes {inc} from unknown layer '{target}'")
                    elif rank(target) > rank(own):
                        bad.append(f"{rel} ({own}) includes {inc}, a higher layer ({target})")
    return bad


def main():
    root, check = sys.argv[1], sys.argv[2]
    problems = {"sdk": check_sdk, "plugins": check_plugins, "layers": check_layers}[check](root)
    for p in problems:
        print(p)
    print(f"{check}: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
