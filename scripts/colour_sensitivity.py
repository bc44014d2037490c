#!/usr/bin/env python3
"""How much a text encoder's output changes when a caption's second object changes colour.

A grown cross-attention can only carry what the encoding of a caption holds. This measures, for
each encoder, how much of the encoding a colour moves: each detailed caption of two or more
objects is paired with the same caption with the second object's colour swapped for one the
scene does not have, both are encoded, and for each pair

    ratio = |E(swapped) - E(caption)| / |E(caption) - mean token state|

over the caption's tokens (Frobenius norms; the mean is over every token of every encoded
prompt). Near 0: the encoding barely tells the colours apart. The share of that change at
tokens after the first one that changes says whether the colour reaches the rest of the caption
(a decoder's own token for a colour carries little of it: it predicts the next word).
docs/reproducing.md ("Six seeds of the grown pathway") compares the T5, the tiny Llamas and
the Llama read with `echo` this way.

    modelgrow dataset show --options experiments/paper/language_pathway.toml \\
        --table data.continual_heldout --count 96 > heldout.jsonl
    scripts/colour_sensitivity.py pairs heldout.jsonl > pairs.txt
    modelgrow text encode --plugin llm --options llm.toml --prompts-file pairs.txt --out llm.st
    scripts/colour_sensitivity.py measure llm.st t5.st ...

Pure Python (no numpy or torch): a few dozen captions of a few hundred 64-wide states each.
"""

import argparse
import json
import math
import sys
from pathlib import Path

from safetensors_file import read_text_encoding


def swapped_pairs(lines):
    """(caption, caption with object 1's colour swapped) for each sample of two or more objects.

    `lines` are `modelgrow dataset show` JSON lines. The new colour is the first object colour seen
    anywhere in the input that the scene (objects and background) does not use."""
    samples = [json.loads(line) for line in lines if line.strip()]
    palette = []
    for s in samples:
        for o in s["labels"]["objects"]:
            if o["color"] not in palette:
                palette.append(o["color"])
    pairs = []
    for s in samples:
        objects = s["labels"]["objects"]
        caption = s["captions"]["detailed"]
        if len(objects) < 2:
            continue
        old, shape = objects[1]["color"], objects[1]["shape"]
        if any((o["color"], o["shape"]) == (old, shape) for i, o in enumerate(objects) if i != 1):
            continue  # "the red circle" would name two objects
        used = {o["color"] for o in objects} | {s["labels"]["background"]}
        new = next((c for c in palette if c not in used), None)
        if new is None or f"{old} {shape}" not in caption:
            continue
        pairs.append((caption, caption.replace(f"{old} {shape}", f"{new} {shape}")))
    return pairs


def read_encoding(path):
    """[(tokens of prompt 0), (tokens of prompt 1), ...]: each a list of state vectors, masked."""
    _, states, mask, (n, length, dim) = read_text_encoding(path)
    return [
        [states[(i * length + t) * dim : (i * length + t + 1) * dim]
         for t in range(length) if mask[i * length + t]]
        for i in range(n)
    ]


def squared(v):
    return sum(x * x for x in v)


def measure(prompts):
    """(pairs measured, mean ratio, mean share after the first changed token) of an encoding of
    pairs: prompts 0 and 1 are a pair, 2 and 3, ... Pairs whose token counts differ are left out
    (a colour word of another length shifts every later token)."""
    if len(prompts) % 2:
        raise ValueError(f"{len(prompts)} prompts: expected pairs (an even number)")
    tokens = [t for p in prompts for t in p]
    if not tokens:
        raise ValueError("no tokens")
    dim = len(tokens[0])
    mean = [sum(t[d] for t in tokens) / len(tokens) for d in range(dim)]
    ratios, shares = [], []
    for a, b in zip(prompts[0::2], prompts[1::2]):
        if len(a) != len(b):
            continue
        change = [squared([x - y for x, y in zip(s, t)]) for s, t in zip(a, b)]
        spread = sum(squared([x - m for x, m in zip(s, mean)]) for s in a)
        if spread == 0 or sum(change) == 0:
            ratios.append(0.0)
            continue
        # Rounding in a padded batch moves even the tokens before the colour a little.
        first = next(i for i, c in enumerate(change) if c > 1e-6 * sum(change))
        ratios.append(math.sqrt(sum(change) / spread))
        shares.append(sum(change[first + 1 :]) / sum(change))
    if not ratios:
        raise ValueError("no pair of equal token counts")
    share = sum(shares) / len(shares) if shares else math.nan
    return len(ratios), sum(ratios) / len(ratios), share


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pairs = commands.add_parser("pairs", help="write caption pairs, one prompt per line")
    pairs.add_argument("samples", type=Path, help="`modelgrow dataset show` output (JSON lines)")
    encoded = commands.add_parser("measure", help="measure encodings of the pairs")
    encoded.add_argument("encodings", nargs="+", type=Path,
                         help="safetensors from `modelgrow text encode --out`")
    args = parser.parse_args(argv)

    if args.command == "pairs":
        for caption, swapped in swapped_pairs(args.samples.read_text().splitlines()):
            print(caption)
            print(swapped)
        return 0
    print("encoding\tpairs\tratio\tshare_after_first_change")
    for path in args.encodings:
        n, ratio, share = measure(read_encoding(path))
        print(f"{path}\t{n}\t{ratio:.3f}\t{share:.2f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        sys.exit(f"colour_sensitivity.py: {e}")
