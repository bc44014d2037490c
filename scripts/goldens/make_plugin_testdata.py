"""Makes the tiny HDF5 files the `hdf5` data plugin's and the `precomputed` text plugin's
examples read (their DATA folders, "${data}" in their kExamples), the way a user's h5py code
would write them (docs/formats.md, docs/text-encoders.md):

- datasets/hdf5/testdata/shards/shard-0000{0,1}.h5: 5 samples of pixels in [-1, 1], short and
  detailed captions, labels, a label schema with targets (one category absent from one sample),
  and stored text embeddings with a bool mask.
- text_encoders/precomputed/testdata/embeddings.h5: embeddings for the prompts the precomputed
  plugin's examples list, with both `prompt_sha256` and `prompts`, so it reads by prompt hash and
  by sample index.

Deterministic (fixed seed, fixed `created`); run from anywhere with Python 3, NumPy and h5py
(scripts/setup.sh installs Debian's python3-h5py):
    python3 scripts/goldens/make_plugin_testdata.py
"""
import hashlib
import json
import os

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEXT = h5py.string_dtype("utf-8")

# Must match `test_prompts` in text_encoders/precomputed/precomputed_text_encoder.cc.
PROMPTS = [
    "",
    "a red circle moves left",
    "a blue square moves right",
    "a green triangle moves up",
    "a yellow diamond stays still",
    "A video of one object on a plain black background.",
]

SCHEMA = {
    "classes": {"color": ["red", "green", "blue"], "shape": ["circle", "square", "triangle"]},
    "stated_by": {"short": ["color", "shape"], "detailed": ["color", "shape"]},
}


def write_shard(path, first, count, rng):
    colors, shapes = SCHEMA["classes"]["color"], SCHEMA["classes"]["shape"]
    samples = []
    for i in range(first, first + count):
        color, shape = colors[i % 3], shapes[(i + 1) % 3]
        samples.append({
            "video": rng.uniform(-1, 1, (3, 2, 8, 8)).astype(np.float32),
            "short": f"a {color} {shape} (clip {i})",
            # Sample 3 has no detailed caption ("" = none).
            "detailed": "" if i == 3 else f"A video of a {color} {shape} on a black background.",
            "labels": {"color": color, "shape": shape, "clip": i},
            # The colour of sample 2 is not shown: -1 (absent).
            "targets": [-1 if i == 2 else i % 3, (i + 1) % 3],
            "t5": rng.standard_normal((4, 6)).astype(np.float32),
            "t5_mask": np.arange(4) < 2 + i % 3,
        })
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "modelgrow.video_shard"
        f.attrs["format_version"] = 1
        f.attrs["latent"] = 0
        f.attrs["source"] = "scripts/goldens/make_plugin_testdata.py"
        f.attrs["created"] = "2025-01-01T00:00:00Z"
        f.attrs["label_schema"] = json.dumps(SCHEMA)
        for k, s in enumerate(samples):
            f.create_dataset(f"videos/{k}", data=s["video"])
        f.create_dataset("captions/short", data=[s["short"] for s in samples], dtype=TEXT)
        f.create_dataset("captions/detailed", data=[s["detailed"] for s in samples], dtype=TEXT)
        f.create_dataset("fps", data=np.full(count, 8.0))
        f.create_dataset("height", data=np.full(count, 8, dtype=np.int64))
        f.create_dataset("width", data=np.full(count, 8, dtype=np.int64))
        f.create_dataset("index", data=np.arange(first, first + count, dtype=np.int64))
        f.create_dataset("labels", data=[json.dumps(s["labels"]) for s in samples], dtype=TEXT)
        targets = f.create_dataset("targets", data=np.array([s["targets"] for s in samples],
                                                            dtype=np.int64))
        targets.attrs["categories"] = json.dumps(sorted(SCHEMA["classes"]))
        t5 = f.create_group("text/t5")
        t5.attrs["caption"] = "short"
        t5.attrs["encoder"] = "made by make_plugin_testdata.py"
        t5.create_dataset("embedding", data=np.stack([s["t5"] for s in samples]))
        t5.create_dataset("mask", data=np.stack([s["t5_mask"] for s in samples]))  # numpy bool


def write_embeddings(path, rng):
    n, length, dim = len(PROMPTS), 8, 16
    with h5py.File(path, "w") as f:
        f.create_dataset("embeddings", data=rng.standard_normal((n, length, dim)).astype(np.float32))
        f.create_dataset("masks", data=np.arange(length)[None, :] < 1 + np.arange(n)[:, None])
        hashes = [hashlib.sha256(p.encode("utf-8")).hexdigest() for p in PROMPTS]
        f.create_dataset("prompt_sha256", data=np.array(hashes, dtype="S64"))
        f.create_dataset("prompts", data=PROMPTS, dtype=TEXT)


def main():
    rng = np.random.default_rng(11)
    shards = os.path.join(ROOT, "datasets/hdf5/testdata/shards")
    os.makedirs(shards, exist_ok=True)
    write_shard(os.path.join(shards, "shard-00000.h5"), 0, 3, rng)
    write_shard(os.path.join(shards, "shard-00001.h5"), 3, 2, rng)
    embeddings = os.path.join(ROOT, "text_encoders/precomputed/testdata")
    os.makedirs(embeddings, exist_ok=True)
    write_embeddings(os.path.join(embeddings, "embeddings.h5"), rng)


if __name__ == "__main__":
    main()
