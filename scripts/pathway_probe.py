#!/usr/bin/env python3
"""How readily a small cross-attention reads each object's attributes from a text encoding.

A grown text pathway is a caption MLP and a cross-attention whose queries are the video's
tokens. This fits the same shape alone, on the encodings only: a caption MLP (Linear, GELU,
Linear to 128 channels, as STDiT3's y_embedder), 16 learned queries standing in for the video
tokens, one 4-head cross-attention over the caption's tokens (its mask applied), and linear heads
on the queries' outputs that predict the set of object colours, the second object's colour and
the object count. Trained with Adam (lr 1e-3, batch 64) on the training captions' encodings for
each number of steps asked, and scored on the test captions: the share of several-object scenes
whose colour set is read exactly (logits above zero; the evaluation's `colors` metric also asks
for the exact set, taking as many colours as the scene has), of the second object's colour, and
of the count. Few steps say how fast a pathway can find an attribute, many say whether the
encoding holds it at all. docs/reproducing.md ("Copied, fresh, or aligned") compares the T5s and
the tiny Llamas this way.

    modelgrow dataset show --options experiments/paper/language_align.toml \\
        --table data.continual --count 1024 > train.jsonl
    modelgrow dataset show --options experiments/paper/language_align.toml \\
        --table data.continual_heldout --set size=512 --count 512 > test.jsonl
    scripts/pathway_probe.py captions train.jsonl test.jsonl > captions.txt
    modelgrow text encode --plugin llm ... --prompts-file captions.txt --out llm.safetensors
    scripts/pathway_probe.py fit train.jsonl test.jsonl llm.safetensors t5.safetensors ...

Needs numpy and torch (Debian's python3-numpy and python3-torch, as the golden scripts do).
Encodings are matched to samples by their detailed captions (the `prompts` that
`modelgrow text encode --out` stores), so every caption of both files must have been encoded.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from safetensors_file import read_text_encoding


def read_samples(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def read_encoding(path):
    """(prompts, states [N, L, D] float32, mask [N, L] bool) of `modelgrow text encode --out`."""
    prompts, states, mask, shape = read_text_encoding(path)
    if prompts is None:
        raise ValueError(f"{path}: no prompts in its metadata (write it with modelgrow text encode --out)")
    return (prompts, torch.from_numpy(np.frombuffer(states, dtype=np.float32).reshape(shape).copy()),
            torch.from_numpy(np.frombuffer(mask, dtype=np.uint8).reshape(shape[:2]).copy()).bool())


class Targets:
    """What each sample's video shows: its colour set, its second object's colour, its count."""

    def __init__(self, samples, palette):
        n = len(samples)
        self.colour_set = torch.zeros(n, len(palette))
        self.second = torch.full((n,), -1, dtype=torch.long)
        self.count = torch.zeros(n, dtype=torch.long)
        for i, s in enumerate(samples):
            objects = s["labels"]["objects"]
            for o in objects:
                self.colour_set[i, palette.index(o["color"])] = 1
            if len(objects) >= 2:
                self.second[i] = palette.index(objects[1]["color"])
            self.count[i] = len(objects) - 1
        self.several = self.second >= 0


class Pathway(nn.Module):
    def __init__(self, channels, colours, counts, width=128, queries=16, heads=4):
        super().__init__()
        self.caption_mlp = nn.Sequential(nn.Linear(channels, width), nn.GELU(),
                                         nn.Linear(width, width))
        self.queries = nn.Parameter(torch.randn(queries, width) * 0.5)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.colour_set = nn.Linear(queries * width, colours)
        self.second = nn.Linear(queries * width, colours)
        self.count = nn.Linear(queries * width, counts)

    def forward(self, states, mask):
        y = self.caption_mlp(states)
        q = self.queries.expand(states.shape[0], -1, -1)
        read, _ = self.attention(q, y, y, key_padding_mask=~mask)
        read = read.flatten(1)
        return self.colour_set(read), self.second(read), self.count(read)


def fit(states, mask, train, test, steps, seed, counts):
    torch.manual_seed(seed)
    net = Pathway(states.shape[-1], train.colour_set.shape[1], counts)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    draw = torch.Generator().manual_seed(seed)
    n_train = len(train.count)
    for _ in range(steps):
        idx = torch.randint(0, n_train, (64,), generator=draw)
        sets, second, count = net(states[idx], mask[idx])
        several = train.several[idx]
        loss = (F.binary_cross_entropy_with_logits(sets, train.colour_set[idx]) +
                F.cross_entropy(second[several], train.second[idx][several]) +
                F.cross_entropy(count, train.count[idx]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        sets, second, count = net(states[n_train:], mask[n_train:])
        several = test.several
        exact = ((sets > 0).float() == test.colour_set).all(1)
        return (exact[several].float().mean().item(),
                (second.argmax(1) == test.second)[several].float().mean().item(),
                (count.argmax(1) == test.count).float().mean().item())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    captions = commands.add_parser("captions", help="write both files' detailed captions, one per line")
    fitting = commands.add_parser("fit", help="fit a probe on each encoding")
    for p in (captions, fitting):
        p.add_argument("train", type=Path, help="`modelgrow dataset show` output to fit on")
        p.add_argument("test", type=Path, help="`modelgrow dataset show` output to score on")
    fitting.add_argument("encodings", nargs="+", type=Path,
                         help="safetensors from `modelgrow text encode --out` of those captions")
    fitting.add_argument("--steps", type=int, nargs="+", default=[100, 200, 1500])
    fitting.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)

    train_samples, test_samples = read_samples(args.train), read_samples(args.test)
    samples = train_samples + test_samples
    if args.command == "captions":
        for s in samples:
            print(s["captions"]["detailed"])
        return 0
    palette = sorted({o["color"] for s in samples for o in s["labels"]["objects"]})
    counts = max(len(s["labels"]["objects"]) for s in samples)
    train, test = Targets(train_samples, palette), Targets(test_samples, palette)
    print(f"{len(train_samples)} training captions, {len(test_samples)} test captions "
          f"({int(test.several.sum())} of several objects), {len(palette)} colours; "
          f"mean over {args.seeds} seeds")
    print("encoding\tsteps\tcolour_set\tsecond_colour\tcount")
    for path in args.encodings:
        prompts, states, mask = read_encoding(path)
        row = {p: i for i, p in enumerate(prompts)}
        missing = [s["captions"]["detailed"] for s in samples if s["captions"]["detailed"] not in row]
        if missing:
            raise ValueError(f"{path}: {len(missing)} caption(s) not encoded, the first: {missing[0]!r}")
        order = torch.tensor([row[s["captions"]["detailed"]] for s in samples])
        states, mask = states[order], mask[order]
        for steps in args.steps:
            start = time.time()
            scores = np.array([fit(states, mask, train, test, steps, seed, counts)
                               for seed in range(args.seeds)]).mean(0)
            print(f"{path}\t{steps}\t{scores[0]:.3f}\t{scores[1]:.3f}\t{scores[2]:.3f}"
                  f"\t# {time.time() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        sys.exit(f"pathway_probe.py: {e}")
