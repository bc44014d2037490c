#!/usr/bin/env python3
"""Writes the small tokenizer.json fixtures (tests/fixtures/tokenizers/small_*), a few KB each.

Each exercises components the real Llama / Qwen / T5 files do not: WordPiece, Split behaviours
and invert, Digits, Punctuation, Replace/Prepend/Strip normalizers, Metaspace variants, pair
templates, RobertaProcessing, BertProcessing, added-token options, byte_fallback, ignore_merges.
Vocabularies are character-level (WordPiece "##" continuations make piece boundaries visible in
the ids) or a tiny BPE learned here from the hard corpus. Then run
scripts/goldens/make_tokenizer_goldens.mjs to record what Hugging Face makes of them.
"""
import collections
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizers")
CORPUS = json.load(open(os.path.join(OUT, "hard_corpus.json"), encoding="utf-8"))["texts"]

ASCII = [chr(c) for c in range(0x21, 0x7F)]
EXTRA = list("éèàçñüößΣσςışİ我爱北京中文日本語한국어ÀÉ½①’—…–")


def added(content, id_, special=True, normalized=False, lstrip=False, rstrip=False,
          single_word=False):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip,
            "rstrip": rstrip, "normalized": normalized, "special": special}


def seq(id_, type_id=0):
    return {"Sequence": {"id": id_, "type_id": type_id}}


def tok(id_, type_id=0):
    return {"SpecialToken": {"id": id_, "type_id": type_id}}


def wordpiece_vocab(specials, words=()):
    vocab = {}
    for s in specials:
        vocab[s] = len(vocab)
    for c in ASCII + EXTRA:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault("##" + c, len(vocab))
    for w in words:
        vocab.setdefault(w, len(vocab))
    return vocab


def document(model, normalizer=None, pre_tokenizer=None, post_processor=None, decoder=None,
             added_tokens=()):
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": list(added_tokens), "normalizer": normalizer,
            "pre_tokenizer": pre_tokenizer, "post_processor": post_processor, "decoder": decoder,
            "model": model}


def learn_merges(words, alphabet, count):
    """A tiny BPE trainer: `count` merges over words given as symbol lists."""
    words = collections.Counter(tuple(w) for w in words if w)
    vocab = list(alphabet)
    merges = []
    for _ in range(count):
        pairs = collections.Counter()
        for word, n in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append((a, b))
        vocab.append(a + b)
        merged = collections.Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    return vocab, merges


def byte_level_chars():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


def write(name, doc, config=None):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as out:
        json.dump(doc, out, ensure_ascii=False)
    if config is not None:
        with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as out:
            json.dump(config, out, ensure_ascii=False, indent=1)
    print(name, os.path.getsize(os.path.join(folder, "tokenizer.json")), "bytes")


def wordpiece_bert():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = wordpiece_vocab(specials, ["the", "red", "cube", "moves", "left", "hello", "world",
                                       "camera", "follows", "##s", "##ing", "##ed", "it", "go"])
    tokens = [added(s, i) for i, s in enumerate(specials)]
    tokens.append(added("[NEW]", len(vocab), special=False, normalized=True, lstrip=True))
    tokens.append(added("camera", vocab["camera"], special=False, normalized=True,
                        single_word=True))
    doc = document(
        {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
         "max_input_chars_per_word": 20, "vocab": vocab},
        normalizer={"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                    "strip_accents": None, "lowercase": True},
        pre_tokenizer={"type": "BertPreTokenizer"},
        post_processor={"type": "TemplateProcessing",
                        "single": [tok("[CLS]"), seq("A"), tok("[SEP]")],
                        "pair": [tok("[CLS]"), seq("A"), tok("[SEP]"), seq("B", 1), tok("[SEP]", 1)],
                        "special_tokens": {s: {"id": s, "ids": [vocab[s]], "tokens": [s]}
                                           for s in ("[CLS]", "[SEP]")}},
        decoder={"type": "WordPiece", "prefix": "##", "cleanup": True},
        added_tokens=tokens)
    write("small_wordpiece_bert", doc, {"unk_token": "[UNK]", "pad_token": "[PAD]",
                                        "cls_token": "[CLS]", "sep_token": "[SEP]"})


def split_behaviours():
    vocab = wordpiece_vocab(["[UNK]"])
    doc = document(
        {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
         "max_input_chars_per_word": 100, "vocab": vocab},
        normalizer={"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Lowercase"}]},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithPrevious",
             "invert": False},
            {"type": "Split", "pattern": {"Regex": "[,;:]"}, "behavior": "MergedWithNext",
             "invert": False},
            {"type": "Split", "pattern": {"Regex": "\\.+|!"}, "behavior": "Contiguous",
             "invert": False},
            {"type": "Split", "pattern": {"Regex": "\\p{N}{1,2}"}, "behavior": "Isolated",
             "invert": False},
            {"type": "Split", "pattern": {"String": "'"}, "behavior": "Removed", "invert": False}]},
        decoder={"type": "WordPiece", "prefix": "##", "cleanup": False})
    write("small_split_behaviours", doc)
    clip_like = dict(doc)
    clip_like["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split",
         "pattern": {"Regex": "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"},
         "behavior": "Removed", "invert": True},
        {"type": "Split", "pattern": {"Regex": "[aeiou]"}, "behavior": "Contiguous",
         "invert": True}]}
    clip_like["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFC"}, {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
        {"type": "Lowercase"}]}
    write("small_split_invert", clip_like)


def digits_punctuation():
    vocab = wordpiece_vocab(["[UNK]"])
    model = {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
             "max_input_chars_per_word": 100, "vocab": vocab}
    write("small_digits_punctuation", document(
        model,
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "Whitespace"}, {"type": "Digits", "individual_digits": True},
            {"type": "Punctuation", "behavior": "Isolated"}]},
        decoder={"type": "WordPiece", "prefix": "##", "cleanup": True}))
    write("small_digits_contiguous", document(
        model,
        normalizer={"type": "Nmt"},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "CharDelimiterSplit", "delimiter": " "},
            {"type": "Digits", "individual_digits": False},
            {"type": "Punctuation", "behavior": "MergedWithPrevious"}]},
        decoder={"type": "WordPiece", "prefix": "##", "cleanup": False}))


def unigram_pieces():
    """Character pieces (with and without ▁), a few words, and byte-fallback tokens."""
    pieces = [["<unk>", 0.0], ["<s>", 0.0], ["</s>", 0.0]]
    pieces += [[f"<0x{b:02X}>", 0.0] for b in range(256)]
    seen = set()
    for i, c in enumerate(ASCII + EXTRA[:12]):
        for p in (c, "▁" + c):
            if p not in seen:
                seen.add(p)
                pieces.append([p, -5.0 - (i % 7) * 0.25])
    for i, w in enumerate(["▁the", "▁a", "▁red", "▁cube", "▁moves", "▁left", "ing", "ed",
                           "▁camera", "▁hello", "▁world", "er", "▁"]):
        pieces.append([w, -2.0 - i * 0.1])
    return pieces


def metaspace_variants():
    pieces = unigram_pieces()
    base = {"type": "Unigram", "unk_id": 0, "vocab": pieces, "byte_fallback": True}
    spm_decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    tokens = [added("<unk>", 0), added("<s>", 1), added("</s>", 2)]
    write("small_metaspace_first", document(
        base,
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"String": "``"}, "content": "\""},
            {"type": "Replace", "pattern": {"String": "''"}, "content": "\""},
            {"type": "NFKC"},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            {"type": "Strip", "strip_left": True, "strip_right": True}]},
        pre_tokenizer={"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                       "split": True},
        post_processor={"type": "TemplateProcessing", "single": [tok("<s>"), seq("A")],
                        "pair": [tok("<s>"), seq("A"), tok("</s>"), tok("<s>", 1), seq("B", 1)],
                        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                                           "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
        decoder=spm_decoder, added_tokens=tokens),
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})
    write("small_metaspace_nosplit", document(
        base,
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "NFKD"}, {"type": "StripAccents"}, {"type": "Lowercase"},
            {"type": "Strip", "strip_left": False, "strip_right": True}]},
        pre_tokenizer={"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                       "split": False},
        decoder={"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                 "split": False},
        added_tokens=tokens))
    write("small_metaspace_never", document(
        dict(base, byte_fallback=False),
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        pre_tokenizer={"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never",
                       "split": True},
        decoder={"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never",
                 "split": True},
        added_tokens=tokens))


def roberta_byte_level():
    table = byte_level_chars()
    alphabet = [table[b] for b in range(256)]
    words = []
    for text in CORPUS[:60]:
        for word in text.split(" "):
            if word:
                words.append([table[b] for b in (" " + word).encode("utf-8")])
    vocab_list, merges = learn_merges(words, alphabet, 120)
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    vocab = {s: i for i, s in enumerate(specials)}
    for piece in vocab_list:
        vocab.setdefault(piece, len(vocab))
    vocab["<mask>"] = len(vocab)
    tokens = [added(s, vocab[s]) for s in specials]
    tokens.append(added("<mask>", vocab["<mask>"], lstrip=True))
    write("small_roberta_byte_level", document(
        {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
         "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
         "ignore_merges": False, "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
        pre_tokenizer={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                       "use_regex": True},
        post_processor={"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                        "trim_offsets": True, "add_prefix_space": True},
        decoder={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                 "use_regex": True},
        added_tokens=tokens), {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
                              "unk_token": "<unk>", "mask_token": "<mask>"})
    # Byte-level without the GPT-2 regex, a ByteLevel normalizer and BertProcessing.
    write("small_byte_level_no_regex", document(
        {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
         "vocab": vocab, "merges": [[a, b] for a, b in merges]},
        normalizer={"type": "Sequence", "normalizers": [{"type": "NFC"}]},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
             "use_regex": False}]},
        post_processor={"type": "BertProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0]},
        decoder={"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                 "use_regex": False},
        added_tokens=tokens))


def bpe_byte_fallback():
    words = []
    for text in CORPUS[:60]:
        for word in text.split(" "):
            if word:
                words.append(list("▁" + word))
    alphabet = sorted({c for w in words for c in w if ord(c) < 0x250} | {"▁"})
    known = set(alphabet)
    vocab_list, merges = learn_merges([w for w in words if all(c in known for c in w)],
                                      alphabet, 150)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<sep>": 3}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece in vocab_list:
        vocab.setdefault(piece, len(vocab))
    # Whole words that the merges would not build: ignore_merges takes them as they are.
    for word in ("▁cube", "▁moves", "▁camera", "▁supercalifragilistic"):
        vocab.setdefault(word, len(vocab))
    spm_decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    tokens = [added("<unk>", 0), added("<s>", 1), added("</s>", 2), added("<sep>", 3)]
    model = {"type": "BPE", "dropout": None, "unk_token": "<unk>",
             "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
             "byte_fallback": True, "ignore_merges": True, "vocab": vocab,
             "merges": [[a, b] for a, b in merges]}
    write("small_bpe_byte_fallback", document(
        model,
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        post_processor={"type": "TemplateProcessing", "single": [tok("<s>"), seq("A")],
                        "pair": [tok("<s>"), seq("A"), tok("<sep>"), seq("B", 1), tok("</s>", 1)],
                        "special_tokens": {
                            "<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                            "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]},
                            "<sep>": {"id": "<sep>", "ids": [2, 3], "tokens": ["</s>", "<sep>"]}}},
        decoder=spm_decoder, added_tokens=tokens),
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})
    # Same vocabulary without byte fallback: unknown characters become (fused) <unk>.
    write("small_bpe_unk", document(
        dict(model, byte_fallback=False, ignore_merges=False, fuse_unk=False),
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        decoder=spm_decoder, added_tokens=tokens))


def added_token_options():
    vocab = wordpiece_vocab(["[UNK]"], ["the", "token", "word"])
    n = len(vocab)
    tokens = [
        added("[UNK]", 0),
        added("<special>", n, special=True, lstrip=True, rstrip=True),
        added("Token", n + 1, special=False, normalized=True),
        added("word", vocab["word"], special=False, normalized=False, single_word=True),
        added("<r>", n + 2, special=True, rstrip=True),
        added("<l>", n + 3, special=True, lstrip=True),
        added("the", vocab["the"], special=False, normalized=True),
        added("ÉTÉ", n + 4, special=False, normalized=True),
        added("<|im_start|>", n + 5, special=True),
        added("<|im_start|>user", n + 6, special=True),
    ]
    write("small_added_tokens", document(
        {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
         "max_input_chars_per_word": 100, "vocab": vocab},
        normalizer={"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "NFD"}]},
        pre_tokenizer={"type": "Whitespace"},
        decoder={"type": "WordPiece", "prefix": "##", "cleanup": True},
        added_tokens=tokens))


def wordlevel_bpe_suffix():
    words = collections.Counter()
    for text in CORPUS:
        for word in text.lower().split():
            if len(word) < 30:
                words[word] += 1
    vocab = {"<unk>": 0, "[CLS]": 1, "[SEP]": 2}
    for word, _ in words.most_common(150):
        vocab.setdefault(word, len(vocab))
    write("small_wordlevel", document(
        {"type": "WordLevel", "unk_token": "<unk>", "vocab": vocab},
        normalizer={"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": False,
                    "strip_accents": True, "lowercase": False},
        pre_tokenizer={"type": "WhitespaceSplit"},
        post_processor={"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]},
        decoder={"type": "BPEDecoder", "suffix": "</w>"},
        added_tokens=[added("<unk>", 0), added("[CLS]", 1), added("[SEP]", 2)]))
    # BPE with an end-of-word suffix (as CLIP and the original GPT have).
    symbol_words = []
    for text in CORPUS[:60]:
        for word in text.lower().split():
            chars = list(word)
            if chars:
                chars[-1] = chars[-1] + "</w>"
                symbol_words.append(chars)
    alphabet = sorted({c for w in symbol_words for c in w})
    alphabet = [c for c in alphabet if len(c.replace("</w>", "")) == 1 and ord(c[0]) < 0x250]
    vocab_list, merges = learn_merges([w for w in symbol_words if all(c in alphabet for c in w)],
                                      alphabet, 120)
    bpe_vocab = {"<unk>": 0}
    for piece in vocab_list:
        bpe_vocab.setdefault(piece, len(bpe_vocab))
    write("small_bpe_suffix", document(
        {"type": "BPE", "dropout": 0.0, "unk_token": "<unk>", "continuing_subword_prefix": None,
         "end_of_word_suffix": "</w>", "fuse_unk": False, "byte_fallback": False,
         "vocab": bpe_vocab, "merges": [f"{a} {b}" for a, b in merges]},
        normalizer={"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]},
        pre_tokenizer={"type": "Whitespace"},
        decoder={"type": "BPEDecoder", "suffix": "</w>"},
        added_tokens=[added("<unk>", 0)]))


if __name__ == "__main__":
    wordpiece_bert()
    split_behaviours()
    digits_punctuation()
    metaspace_variants()
    roberta_byte_level()
    bpe_byte_fallback()
    added_token_options()
    wordlevel_bpe_suffix()
