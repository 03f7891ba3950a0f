"""Writes the references provider.onnx's tests compare with (data/), from the Python libraries:
the token ids the `tokenizers` library gives for each text (golden_ids.jsonl), and the unit-length
mean-pooled embeddings onnxruntime gives for some of them (golden_vectors.jsonl), a text longer
than the model's window embedded window by window and averaged by token count, as the provider
does.

    make_golden.py MODEL_DIR    (make_golden.sh runs it in a virtualenv with the pinned
                                 onnxruntime==1.20.1, tokenizers==0.23.3, numpy)

Texts: questions from the semantic-cache pairs, and generated ones that reach each step of the
BERT tokenizer: accents and case in many scripts, CJK, punctuation of every kind, whitespace and
control characters, zero-width and format characters, the special tokens' text, words past 100
characters, emoji.
"""
import json
import os
import random
import sys

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

model_dir = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
tokenizer = Tokenizer.from_file(os.path.join(model_dir, "all-minilm-l6-v2-q-tokenizer.json"))
tokenizer.no_padding()
tokenizer.no_truncation()
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 1
session = onnxruntime.InferenceSession(os.path.join(model_dir, "all-minilm-l6-v2-q.onnx"), options)
WINDOW = 128  # the tokenizer file's truncation length, [CLS] and [SEP] included

rng = random.Random(20261205)
texts = []
for name in ("qqp_sample.jsonl", "hard_pairs.jsonl"):
    with open(os.path.join(here, "..", "semantic", "data", name)) as f:
        for i, line in enumerate(f):
            p = json.loads(line)
            if name == "hard_pairs.jsonl" or i < 600:
                texts += [p["a"], p["b"]]

pieces = [
    "Crème brûlée", "naïve façade", "ÅNGSTRÖM", "İstanbul", "ΣΊΣΥΦΟΣ ΟΔΥΣΣΕΎΣ", "Straße", "Ǆemal ǅ ǆ",
    "Москва ЁЛКА", "עִבְרִית", "العَرَبِيَّة", "हिन्दी", "ภาษาไทย", "日本語のテキスト", "中文分词测试", "한국어 문장",
    "𠀀𠀁 CJK Ext B", "ﬁnance ﬂow", "Ⅻ ② ㎏", "x²+y³", "e\u0301e\u0300", "ｆｕｌｌｗｉｄｔｈ",
    "hello,world!", "(a)[b]{c}", "«quote» “smart” ‘single’", "a—b–c", "¿Qué? ¡Sí!", "$100 + 5% = ~105^",
    "tab\there", "line\nbreak\r\nnext", "nbsp\u00a0space", "ideographic\u3000space", "zero\u200bwidth",
    "soft\u00adhyphen", "bom\ufeffmark", "nul\u0000char", "nel\u0085char", "ctl\u0007bell", "private\ue000use",
    "replacement\ufffdchar", "rtl\u200fmark", "[CLS] and [SEP]", "a[MASK]b", "[UNK][PAD]", "[cls] lower",
    "emoji 😀🎉👩‍💻🇫🇷", "🫠 newer emoji", "keycap 1️⃣", "a" * 101, "b" * 100, "supercalifragilistic" * 6,
    "C++ std::vector<int>", "https://example.com/path?q=1&r=2", "user@example.com", "2026-12-05T14:00:00Z",
    "don't won't it's", "  leading and trailing  ", "", "   ", "\u0301 lone mark", "ǰ\u0323", "ﷺ ligature",
]
texts += pieces
for _ in range(300):  # random mixtures of the pieces and single code points
    parts = [rng.choice(pieces) for _ in range(rng.randint(1, 4))]
    for _ in range(rng.randint(0, 3)):
        parts.insert(rng.randrange(len(parts) + 1), chr(rng.choice([
            rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2ff), rng.randint(0x370, 0x52f),
            rng.randint(0x2000, 0x206f), rng.randint(0x3000, 0x30ff), rng.randint(0x4e00, 0x9fff)])))
    texts.append(rng.choice(["", " ", "  "]).join(parts))
long_text = " ".join(texts[:80])  # past the window: embedded window by window
texts.append(long_text)

with open(os.path.join(here, "data", "golden_ids.jsonl"), "w") as f:
    for t in texts:
        f.write(json.dumps({"text": t, "ids": tokenizer.encode(t, add_special_tokens=False).ids}, ensure_ascii=False) + "\n")


def embed(text):
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    total, start = None, 0
    while True:
        window = [101] + ids[start:start + WINDOW - 2] + [102]
        a = np.array([window], dtype=np.int64)
        hidden = session.run(None, {"input_ids": a, "attention_mask": np.ones_like(a), "token_type_ids": np.zeros_like(a)})[0][0]
        rows = hidden.astype(np.float64).sum(axis=0)
        total = rows if total is None else total + rows
        start += WINDOW - 2
        if start >= len(ids):
            break
    return total / np.linalg.norm(total)


with_vectors = texts[:24] + pieces[:12] + [long_text]
with open(os.path.join(here, "data", "golden_vectors.jsonl"), "w") as f:
    for t in with_vectors:
        f.write(json.dumps({"text": t, "vector": [round(float(v), 6) for v in embed(t)]}, ensure_ascii=False) + "\n")
print("make_golden: %d texts with ids, %d with vectors" % (len(texts), len(with_vectors)))
