#!/usr/bin/env python3
"""Draws the Quora Question Pairs sample the semantic-cache evaluation uses (data/qqp_sample.jsonl).

Source: GPTCache (github.com/zilliztech/GPTCache, MIT) bundles Quora Question Pairs as
examples/benchmark/similiar_qqp_full.json.gz: 80,854 labelled pairs, 30,141 duplicates. The
pairs are Quora's "First Quora Dataset Release: Question Pairs" (2017), under Quora's terms
(non-commercial use). A seeded random sample of 4,000 pairs keeps the file small; the ratio of
duplicates is the source's.
    make_qqp_sample.py similiar_qqp_full.json > data/qqp_sample.jsonl
"""
import json
import random
import sys

pairs = json.load(open(sys.argv[1], encoding="utf-8"))
random.Random(20240601).shuffle(pairs)
for p in pairs[:4000]:
    print(json.dumps({"a": p["text_a"], "b": p["text_b"], "same": int(p["label"]) == 1, "kind": "qqp"},
                     ensure_ascii=False))
