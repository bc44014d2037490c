#!/usr/bin/env python3
"""Checks scripts/colour_sensitivity.py: the pairs it writes (second object's colour swapped for
one the scene lacks; single objects and ambiguous names left out) and what it measures on
encodings whose answers are worked out by hand; a bad file is an error naming it.

  colour_sensitivity_test.py SCRIPT
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import encoding_file

SCRIPT = sys.argv.pop(1) if len(sys.argv) > 1 else "scripts/colour_sensitivity.py"


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def sample(background, objects, caption):
    return json.dumps({"captions": {"detailed": caption, "short": "x"},
                       "labels": {"background": background,
                                  "objects": [{"color": c, "shape": s} for c, s in objects]}})


class ColourSensitivity(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = lambda name: os.path.join(self.dir.name, name)

    def tearDown(self):
        self.dir.cleanup()

    def test_pairs_swap_the_second_objects_colour_for_one_the_scene_lacks(self):
        lines = [
            sample("black", [("red", "circle")], "A red circle."),
            sample("black", [("red", "circle"), ("blue", "square")],
                   "A red circle. A blue square. The red circle is left of the blue square."),
            # The palette is every object colour of the input in order: red, blue, green,
            # yellow. This scene has red, blue and green, so its cross becomes yellow.
            sample("gray", [("blue", "star"), ("red", "cross"), ("green", "star")],
                   "A blue star. A red cross. A green star."),
            # Two red circles: "red circle" would name both.
            sample("black", [("red", "circle"), ("red", "circle")], "A red circle. A red circle."),
            sample("black", [("yellow", "diamond")], "A yellow diamond."),
        ]
        with open(self.path("s.jsonl"), "w") as f:
            f.write("\n".join(lines) + "\n")
        result = run("pairs", self.path("s.jsonl"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.splitlines(), [
            "A red circle. A blue square. The red circle is left of the blue square.",
            "A red circle. A green square. The red circle is left of the green square.",
            "A blue star. A red cross. A green star.",
            "A blue star. A yellow cross. A green star.",
        ])

    def test_measure_on_states_worked_out_by_hand(self):
        # Pair 1: the second token moves by (0, 2). Mean state over all tokens of pairs 1 and 2.
        first, first_swapped = [[1, 0], [-1, 0]], [[1, 0], [-1, 2]]
        # Pair 2: different lengths (left out of the ratio, but in the mean).
        second, second_swapped = [[1, 0]], [[1, 0], [-1, 0]]
        encoding_file.write_encoding(self.path("e.st"),
                                     [first, first_swapped, second, second_swapped], 3)
        result = run("measure", self.path("e.st"))
        self.assertEqual(result.returncode, 0, result.stderr)
        row = result.stdout.splitlines()[1].split("\t")
        tokens = first + first_swapped + second + second_swapped
        mean = [sum(t[d] for t in tokens) / len(tokens) for d in range(2)]
        spread = sum((t[0] - mean[0]) ** 2 + (t[1] - mean[1]) ** 2 for t in first)
        self.assertEqual(row[1], "1")
        self.assertAlmostEqual(float(row[2]), math.sqrt(4 / spread), places=3)
        self.assertEqual(row[3], "0.00")  # the only change is at the first changed token

    def test_change_after_the_first_changed_token_is_its_share(self):
        a, b = [[0, 0], [1, 0], [0, 1]], [[0, 0], [2, 0], [0, 2]]  # changes 1 then 1
        encoding_file.write_encoding(self.path("e.st"), [a, b], 3)
        row = run("measure", self.path("e.st")).stdout.splitlines()[1].split("\t")
        self.assertEqual(row[3], "0.50")

    def test_bad_input_names_the_file(self):
        encoding_file.write_encoding(self.path("odd.st"), [[[1.0]], [[2.0]], [[3.0]]], 1)
        result = run("measure", self.path("odd.st"))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("3 prompts: expected pairs", result.stderr)
        with open(self.path("short.st"), "wb") as f:
            f.write(b"\x01")
        result = run("measure", self.path("short.st"))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("short.st", result.stderr)
        header = json.dumps({"other": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})
        with open(self.path("none.st"), "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header.encode() + b"\0\0\0\0")
        result = run("measure", self.path("none.st"))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("none.st: no 'embedding' tensor", result.stderr)


if __name__ == "__main__":
    unittest.main()
