#!/usr/bin/env python3
"""How alike a text encoder's input embeddings make groups of words.

For each model folder (a Hugging Face folder: model.safetensors + tokenizer.json, as
`modelgrow text make` writes them) and each group of words, prints the mean pairwise cosine of the
words' token embeddings after subtracting the vocabulary's mean embedding, and their mean norm.
Identical embeddings carry nothing to tell the words apart; alike ones still can (a model
trained to repeat captions keeps its colours about as alike and still repeats each one right).
docs/reproducing.md ("Six seeds of the grown pathway") uses this to show that next-token training
on the synthetic captions, where a colour or a shape is chosen at random, pulls those words
together, and that this alone does not explain why a grown pathway over the model carries no
colours.

    scripts/token_similarity.py runs/x/cache/text-llm-*/model \
        --group colours=red,green,blue,yellow,purple --group shapes=circle,square,triangle

Pure Python (no numpy or torch): the tiny models are a few hundred rows.
"""

import argparse
import json
import math
import sys
from pathlib import Path

from safetensors_file import read_safetensors, tensor_values

EMBEDDING_NAMES = ("model.embed_tokens.weight", "shared.weight", "encoder.embed_tokens.weight")
# Word-start markers of SentencePiece-style (metaspace) and byte-level BPE vocabularies.
WORD_PREFIXES = ("\u2581", "\u0120", "")


def read_embeddings(path):
    """The token-embedding matrix of a safetensors file, as a list of rows."""
    header, payload = read_safetensors(path)
    name = next((n for n in EMBEDDING_NAMES if n in header), None)
    if name is None:
        raise ValueError(f"{path}: no token embedding (looked for {', '.join(EMBEDDING_NAMES)})")
    info = header[name]
    if info["dtype"] != "F32" or len(info["shape"]) != 2:
        raise ValueError(
            f"{path}: {name} is {info['dtype']} {info['shape']}; expected F32 [rows, dim]")
    rows, dim = info["shape"]
    values = tensor_values(header, payload, name, "f")
    if len(values) != rows * dim:
        raise ValueError(f"{path}: {name} holds {len(values)} values; expected {rows * dim}")
    return [values[r * dim : (r + 1) * dim] for r in range(rows)]


def read_vocabulary(path):
    vocab = json.loads(path.read_text()).get("model", {}).get("vocab")
    if vocab is None:
        raise ValueError(f"{path}: no model.vocab; expected a Hugging Face tokenizer.json")
    if isinstance(vocab, list):  # unigram: [[piece, score], ...]
        return {piece: i for i, (piece, _) in enumerate(vocab)}
    return vocab


def token_of(word, vocab):
    for prefix in WORD_PREFIXES:
        if prefix + word in vocab:
            return vocab[prefix + word]
    return None


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def group_stats(rows, mean, ids):
    centred = [[x - m for x, m in zip(rows[i], mean)] for i in ids]
    norms = [norm(v) for v in centred]
    cosines = [
        sum(a * b for a, b in zip(centred[i], centred[j])) / (norms[i] * norms[j])
        for i in range(len(ids))
        for j in range(i + 1, len(ids))
        if norms[i] > 0 and norms[j] > 0
    ]
    mean_cosine = sum(cosines) / len(cosines) if cosines else math.nan  # all-zero rows
    return mean_cosine, sum(norms) / len(norms)


def parse_group(text):
    name, sep, words = text.partition("=")
    if not sep or not name or not words:
        raise argparse.ArgumentTypeError(f"'{text}': expected NAME=word,word[,...]")
    return name, [w for w in words.split(",") if w]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="model folders")
    parser.add_argument("--group", action="append", type=parse_group, required=True,
                        help="NAME=word,word,... (repeatable; two or more words each)")
    args = parser.parse_args(argv)

    print("model\tgroup\twords\tmean_cosine\tmean_norm")
    for folder in args.models:
        rows = read_embeddings(folder / "model.safetensors")
        vocab = read_vocabulary(folder / "tokenizer.json")
        mean = [sum(column) / len(rows) for column in zip(*rows)]
        for name, words in args.group:
            ids = [token_of(w, vocab) for w in words]
            missing = [w for w, i in zip(words, ids) if i is None]
            if missing:
                print(f"{folder}: no single token for {', '.join(missing)} (left out of '{name}')",
                      file=sys.stderr)
            ids = [i for i in ids if i is not None and i < len(rows)]
            if len(ids) < 2:
                print(f"{folder}\t{name}\t{len(ids)}\t-\t-")
                continue
            cosine, size = group_stats(rows, mean, ids)
            print(f"{folder}\t{name}\t{len(ids)}\t{cosine:.3f}\t{size:.3f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError) as e:
        sys.exit(f"token_similarity.py: {e}")
