#!/usr/bin/env python3
"""Makes the T5-style Unigram tokenizer.json fixtures (tests/fixtures/tokenizers/t5_unigram*).

No npm package ships a T5 tokenizer.json, so this trains a small SentencePiece Unigram model with
the Debian `spm_train` (T5's settings: pad 0, </s> 1, <unk> 2, no BOS, the default nmt_nfkc
normalization whose rules become the Precompiled charsmap) and converts it the way transformers'
convert_slow_tokenizer.py (T5Converter / SpmConverter) does:

  t5_unigram         the current converter: Sequence[Precompiled, Strip(right), Replace(" {2,}",
                     "▁")], Metaspace(prepend_scheme "always"), TemplateProcessing $A </s>
  t5_unigram_legacy  the shape of the T5 v1.1 tokenizer.json files on the Hub: Precompiled alone,
                     Sequence[WhitespaceSplit, Metaspace(add_prefix_space true)]

Both carry T5's 100 <extra_id_N> tokens. Run from the repository root:
  python3 scripts/goldens/make_t5_unigram_tokenizer.py && node scripts/goldens/make_tokenizer_goldens.mjs
"""
import base64
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizers")
EXTRA_IDS = 100
VOCAB_SIZE = 1500


def read_varint(data, pos):
    result, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def fields(data):
    """Yields (field number, wire type, value) of one protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = read_varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def parse_model(data):
    """SentencePiece ModelProto: pieces (1) and normalizer_spec (3) are all T5Converter reads."""
    pieces, charsmap = [], b""
    for number, _, value in fields(data):
        if number == 1:
            piece, score, kind = "", 0.0, 1  # type defaults to NORMAL
            for n, _, v in fields(value):
                if n == 1:
                    piece = v.decode("utf-8")
                elif n == 2:
                    score = struct.unpack("<f", v)[0]
                elif n == 3:
                    kind = v
            pieces.append((piece, score, kind))
        elif number == 3:
            for n, _, v in fields(value):
                if n == 2:
                    charsmap = v
    return pieces, charsmap


def training_text(path):
    corpus = json.load(open(os.path.join(OUT, "hard_corpus.json"), encoding="utf-8"))["texts"]
    with open(path, "w", encoding="utf-8") as out:
        for license_file in sorted(glob.glob("/usr/share/common-licenses/*")):
            if os.path.isfile(license_file):
                out.write(open(license_file, encoding="utf-8", errors="ignore").read())
        for text in corpus:
            if len(text) < 400:
                out.write(text.replace("\r", " ") + "\n")


def converted(pieces, charsmap, legacy):
    unk_id = next(i for i, (_, _, kind) in enumerate(pieces) if kind == 2)
    vocab = [[piece, score] for piece, score, _ in pieces]
    vocab += [[f"<extra_id_{i}>", 0.0] for i in range(EXTRA_IDS - 1, -1, -1)]
    added = []
    for i, (piece, _, kind) in enumerate(pieces):
        # Control pieces and <unk> are special added tokens in T5's tokenizer.json.
        if kind in (2, 3):
            added.append({"id": i, "content": piece, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True})
    for i in range(EXTRA_IDS):
        added.append({"id": len(vocab) - 1 - i, "content": f"<extra_id_{i}>", "single_word": False,
                      "lstrip": False, "rstrip": False, "normalized": False, "special": True})
    added.sort(key=lambda t: t["id"])
    precompiled = {"type": "Precompiled",
                   "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")}
    if legacy:
        normalizer = precompiled
        pre_tokenizer = {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}]}
        decoder = {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}
    else:
        normalizer = {"type": "Sequence", "normalizers": [
            precompiled,
            {"type": "Strip", "strip_left": False, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"}]}
        pre_tokenizer = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always",
                         "split": True}
        decoder = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always",
                   "split": True}
    eos = {"SpecialToken": {"id": "</s>", "type_id": 0}}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, eos],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, eos,
                     {"Sequence": {"id": "B", "type_id": 0}}, eos],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}},
        },
        "decoder": decoder,
        "model": {"type": "Unigram", "unk_id": unk_id, "vocab": vocab, "byte_fallback": False},
    }


def main():
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "train.txt")
        training_text(text)
        prefix = os.path.join(tmp, "t5")
        subprocess.run(["spm_train", f"--input={text}", f"--model_prefix={prefix}",
                        f"--vocab_size={VOCAB_SIZE}", "--model_type=unigram", "--pad_id=0",
                        "--eos_id=1", "--unk_id=2", "--bos_id=-1", "--num_threads=1",
                        "--character_coverage=0.9995", "--minloglevel=2"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pieces, charsmap = parse_model(open(prefix + ".model", "rb").read())
    if not charsmap:
        sys.exit("the SentencePiece model has no precompiled_charsmap")
    config = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
              "extra_ids": EXTRA_IDS, "model_max_length": 512, "tokenizer_class": "T5Tokenizer",
              "additional_special_tokens": [f"<extra_id_{i}>" for i in range(EXTRA_IDS)]}
    for name, legacy in (("t5_unigram", False), ("t5_unigram_legacy", True)):
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as out:
            json.dump(converted(pieces, charsmap, legacy), out, ensure_ascii=False)
        with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as out:
            json.dump(config, out, ensure_ascii=False, indent=1)
        print(f"{folder}: {len(pieces)} pieces + {EXTRA_IDS} extra ids")


if __name__ == "__main__":
    main()
