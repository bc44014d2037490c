#!/usr/bin/env python3
"""Checks scripts/pathway_probe.py on encodings whose answers are known: one that holds each
object's colour at its own token (the probe reads the colour sets and the second colour), one of
noise (it reads neither); captions are matched by text, not by order; a caption missing from an
encoding is an error naming the file.

  pathway_probe_test.py SCRIPT
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

import encoding_file

SCRIPT = sys.argv.pop(1) if len(sys.argv) > 1 else "scripts/pathway_probe.py"
COLOURS = ["red", "green", "blue", "yellow"]


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def samples(n, seed):
    """Scenes of one to three objects; every caption is distinct (it carries its index)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        colours = [rng.choice(COLOURS) for _ in range(rng.randint(1, 3))]
        caption = f"scene {seed}-{i}: " + ", ".join(f"a {c} dot" for c in colours)
        out.append({"captions": {"detailed": caption, "short": "x"},
                    "labels": {"background": "gray",
                               "objects": [{"color": c, "shape": "dot"} for c in colours]}})
    return out


def colour_tokens(sample, dim, rng):
    """A token per object: its colour one-hot plus its position, with a little noise."""
    tokens = []
    for k, o in enumerate(sample["labels"]["objects"]):
        v = [rng.gauss(0, 0.05) for _ in range(dim)]
        v[COLOURS.index(o["color"])] += 3.0
        v[len(COLOURS) + k] += 3.0
        tokens.append(v)
    return tokens


class PathwayProbe(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = lambda name: os.path.join(self.dir.name, name)
        self.train, self.test = samples(256, 0), samples(96, 1)
        for name, rows in (("train.jsonl", self.train), ("test.jsonl", self.test)):
            with open(self.path(name), "w") as f:
                f.write("".join(json.dumps(s) + "\n" for s in rows))

    def tearDown(self):
        self.dir.cleanup()

    def fit(self, encoding, steps="300"):
        result = run("fit", self.path("train.jsonl"), self.path("test.jsonl"), encoding,
                     "--steps", steps, "--seeds", "1")
        self.assertEqual(result.returncode, 0, result.stderr)
        row = [line.split("\t") for line in result.stdout.splitlines()
               if line.startswith(encoding)]
        self.assertEqual(len(row), 1, result.stdout)
        return float(row[0][2]), float(row[0][3]), float(row[0][4])

    def test_captions_lists_both_files_in_order(self):
        result = run("captions", self.path("train.jsonl"), self.path("test.jsonl"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.splitlines(),
                         [s["captions"]["detailed"] for s in self.train + self.test])

    def test_reads_colours_an_encoding_holds_and_not_from_noise(self):
        rng = random.Random(7)
        everything = self.train + self.test
        # Stored in reverse: the probe must match states to samples by caption.
        order = list(reversed(everything))
        prompts = [s["captions"]["detailed"] for s in order]
        dim = 8
        held = [colour_tokens(s, dim, rng) for s in order]
        noise = [[[rng.gauss(0, 1) for _ in range(dim)] for _ in range(3)] for _ in order]
        encoding_file.write_encoding(self.path("held.safetensors"), held, 4, prompts)
        encoding_file.write_encoding(self.path("noise.safetensors"), noise, 4, prompts)
        sets, second, count = self.fit(self.path("held.safetensors"))
        self.assertGreater(sets, 0.9)
        self.assertGreater(second, 0.9)
        self.assertGreater(count, 0.9)
        sets, second, _ = self.fit(self.path("noise.safetensors"))
        self.assertLess(sets, 0.2)
        self.assertLess(second, 0.5)

    def test_a_caption_missing_from_an_encoding_is_an_error_naming_it(self):
        everything = (self.train + self.test)[:-1]
        encoding_file.write_encoding(self.path("short.safetensors"),
                                     [[[1.0] * 4] for _ in everything], 2,
                                     [s["captions"]["detailed"] for s in everything])
        result = run("fit", self.path("train.jsonl"), self.path("test.jsonl"),
                     self.path("short.safetensors"), "--steps", "1", "--seeds", "1")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("short.safetensors", result.stderr)
        self.assertIn("1 caption(s) not encoded", result.stderr)
        self.assertIn(self.test[-1]["captions"]["detailed"], result.stderr)

    def test_an_encoding_without_prompts_is_an_error_naming_it(self):
        encoding_file.write_encoding(self.path("bare.safetensors"), [[[1.0] * 4]], 2)
        result = run("fit", self.path("train.jsonl"), self.path("test.jsonl"),
                     self.path("bare.safetensors"), "--steps", "1", "--seeds", "1")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("bare.safetensors: no prompts", result.stderr)

    def test_prompts_that_do_not_match_the_encodings_are_an_error_naming_the_file(self):
        encoding_file.write_encoding(self.path("odd.safetensors"), [[[1.0] * 4]] * 2, 2, ["one"])
        result = run("fit", self.path("train.jsonl"), self.path("test.jsonl"),
                     self.path("odd.safetensors"), "--steps", "1", "--seeds", "1")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("odd.safetensors: its metadata's prompts are not a list of 2", result.stderr)

    def test_prompts_that_are_not_json_are_an_error_naming_the_file(self):
        path = self.path("garbled.safetensors")
        encoding_file.write_encoding(path, [[[1.0] * 4]], 2, ["one"])
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:  # the same length, so the header still parses
            f.write(data.replace(b'[\\"one\\"]', b'[\\"one\\" ', 1))
        result = run("fit", self.path("train.jsonl"), self.path("test.jsonl"), path,
                     "--steps", "1", "--seeds", "1")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("garbled.safetensors: its metadata's prompts are not JSON", result.stderr)


if __name__ == "__main__":
    unittest.main()
