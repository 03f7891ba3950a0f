#!/usr/bin/env python3
"""Writes the reference outputs provider.wordllama is tested against, from the Python libraries
themselves: token ids from Hugging Face `tokenizers` (data/golden_token_ids.jsonl) and unit
vectors from WordLlama's own `embed(..., norm=True)` (data/golden_embeddings.jsonl).
Run in a virtualenv with the pinned wheel installed (pip install wordllama==0.4.0.post1):
    make_golden.py MODEL_DIR
MODEL_DIR holds the wheel's two model files (fetch_wordllama.sh puts them in build/tools). The
wheel looks for its tokenizer in a "tokenizer/" folder but ships it in "tokenizers/", so it is
loaded here from a cache directory laid out the way WordLlama.load expects, never downloaded.
"""
import json
import os
import shutil
import sys
import tempfile

from tokenizers import Tokenizer
from wordllama import WordLlama

here = os.path.dirname(os.path.abspath(__file__))
model_dir = sys.argv[1]
tok_file = os.path.join(model_dir, "l2_supercat_tokenizer_config.json")

texts = []
for name in ("hard_pairs.jsonl", "qqp_sample.jsonl"):
    for line in open(os.path.join(here, "data", name), encoding="utf-8"):
        p = json.loads(line)
        texts += [p["a"], p["b"]]
# Inputs where tokenizers differ when they differ at all: whitespace runs, leading and trailing
# spaces, newlines and tabs (byte fallback), accents, CJK, emoji, code.
texts[:0] = [
    "", " ", "  two leading spaces", "trailing space ", "a  b   c", "line one\nline two\n", "tab\there",
    "Crème brûlée à la carte", "東京の天気はどうですか", "Привет, как дела?", "I ❤️ emoji 🚀🔥",
    "def f(x):\n    return x ** 2  # square", "SELECT * FROM users WHERE id = 42;", "naïve café Zürich",
    "ǅemal's coöperation", "\u00a0non-breaking\u00a0space", "100,000.50 $ vs €99", "ALL CAPS QUESTION?",
]
# The three special tokens, which the reference matches in the raw text (HTML strikethrough, chat
# templates pasted into a prompt).
specials = [
    "<s>old</s> new price", "hello </s> world", "what is <unk>?", "  <s>  x", "<s><s>", "a<unk>b",
    "</s>", "x </s>", "<s", "</s <s>>", "<<s>>",
]
tok = Tokenizer.from_file(tok_file)
with open(os.path.join(here, "data", "golden_token_ids.jsonl"), "w", encoding="utf-8") as f:
    for t in texts[:3000] + specials:
        ids = tok.encode(t, add_special_tokens=False).ids
        f.write(json.dumps({"text": t, "ids": ids}, ensure_ascii=False) + "\n")

cache = tempfile.mkdtemp()
os.makedirs(os.path.join(cache, "tokenizers"))
shutil.copy(tok_file, os.path.join(cache, "tokenizers"))
os.makedirs(os.path.join(cache, "weights"))
shutil.copy(os.path.join(model_dir, "l2_supercat_256.safetensors"), os.path.join(cache, "weights"))
wl = WordLlama.load(cache_dir=cache, disable_download=True)
sample = [t for t in texts[:18] if t] + texts[18:2018:40]  # WordLlama gives NaN for ""
vectors = wl.embed(sample, norm=True)
with open(os.path.join(here, "data", "golden_embeddings.jsonl"), "w", encoding="utf-8") as f:
    for t, v in zip(sample, vectors):
        f.write(json.dumps({"text": t, "vector": [round(float(x), 6) for x in v]}, ensure_ascii=False) + "\n")
shutil.rmtree(cache)
