#!/usr/bin/env python3
"""Checks scripts/token_similarity.py on model folders with embeddings whose answers are known:
words made identical after centring read cosine 1, opposite words -1, orthogonal ones 0; every
vocabulary kind (BPE map, unigram list; metaspace and byte-level word starts) is found; a word
the vocabulary lacks is named and left out; a broken file is an error naming it.

  token_similarity_test.py SCRIPT
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

SCRIPT = sys.argv.pop(1) if len(sys.argv) > 1 else "scripts/token_similarity.py"


def write_model(folder, name, rows, vocab):
    os.makedirs(folder, exist_ok=True)
    data = b"".join(struct.pack("<%df" % len(r), *r) for r in rows)
    header = {name: {"dtype": "F32", "shape": [len(rows), len(rows[0])],
                     "data_offsets": [0, len(data)]}}
    text = json.dumps(header).encode()
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    with open(os.path.join(folder, "tokenizer.json"), "w") as f:
        json.dump({"model": {"type": "BPE" if isinstance(vocab, dict) else "Unigram",
                             "vocab": vocab}}, f)


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


# Rows whose mean is zero, so centring leaves them as they are.
ROWS = [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 2], [-2, 0, -2]]


class TokenSimilarityTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def table(self, result):
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.strip().split("\n")
        self.assertEqual(lines[0], "model\tgroup\twords\tmean_cosine\tmean_norm")
        return {fields[1]: fields[2:] for fields in (l.split("\t") for l in lines[1:])}

    def test_known_cosines_in_a_metaspace_bpe_vocabulary(self):
        model = os.path.join(self.dir, "llm")
        vocab = {"\u2581red": 0, "\u2581blue": 1, "\u2581circle": 2, "\u2581square": 3,
                 "\u2581left": 4, "x": 5}
        write_model(model, "model.embed_tokens.weight", ROWS, vocab)
        rows = self.table(run(model, "--group", "colours=red,blue", "--group",
                              "shapes=circle,square", "--group", "mixed=red,circle,left"))
        self.assertEqual(rows["colours"], ["2", "1.000", "1.000"])
        self.assertEqual(rows["shapes"], ["2", "-1.000", "1.000"])
        # red, circle and left are pairwise orthogonal: mean norm (1 + 1 + 2) / 3.
        self.assertEqual(rows["mixed"], ["3", "0.000", "1.333"])

    def test_unigram_list_and_byte_level_word_starts(self):
        model = os.path.join(self.dir, "t5")
        vocab = [["\u0120red", 0.0], ["\u0120blue", 0.0], ["circle", 0.0], ["square", 0.0],
                 ["a", 0.0], ["b", 0.0]]
        write_model(model, "shared.weight", ROWS, vocab)
        rows = self.table(run(model, "--group", "colours=red,blue", "--group",
                              "shapes=circle,square"))
        self.assertEqual(rows["colours"], ["2", "1.000", "1.000"])
        self.assertEqual(rows["shapes"], ["2", "-1.000", "1.000"])

    def test_a_missing_word_is_named_and_left_out(self):
        model = os.path.join(self.dir, "llm")
        write_model(model, "model.embed_tokens.weight", ROWS,
                    {"\u2581red": 0, "\u2581blue": 1, "\u2581circle": 2})
        result = run(model, "--group", "colours=red,blue,mauve", "--group", "shapes=circle,cube")
        rows = self.table(result)
        self.assertEqual(rows["colours"], ["2", "1.000", "1.000"])
        self.assertEqual(rows["shapes"], ["1", "-", "-"])
        self.assertIn("no single token for mauve (left out of 'colours')", result.stderr)
        self.assertIn("no single token for cube", result.stderr)

    def test_broken_inputs_are_errors_that_name_the_file(self):
        model = os.path.join(self.dir, "llm")
        write_model(model, "lm_head.weight", ROWS, {"\u2581red": 0})
        result = run(model, "--group", "c=red,blue")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("model.safetensors: no token embedding", result.stderr)
        with open(os.path.join(model, "model.safetensors"), "wb") as f:
            f.write(b"\x00\x01")
        result = run(model, "--group", "c=red,blue")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("too short for a safetensors header", result.stderr)
        result = run(model, "--group", "nowords")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("expected NAME=word,word", result.stderr)


if __name__ == "__main__":
    unittest.main()
