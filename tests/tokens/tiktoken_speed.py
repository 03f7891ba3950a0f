"""Python tiktoken's side of tests/bench/tokens_bench.cc, on the same bytes.

  tiktoken_speed.py corpus DIR            writes DIR/{mixed,random,adversarial}.bin
  tiktoken_speed.py measure TIKTOKEN_DIR CORPUS ENCODING
                                          prints "<MB/s> <tokens>": encode_ordinary over every
                                          document, one thread, best of 5 rounds of
                                          CPU time (process_time: a loaded machine's waits left out)
"""
import os
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import identity_test  # noqa: E402
import make_corpus  # noqa: E402


def corpora():
    """name -> documents: English prose and C++ (this repository's), ordinary text (prose in many scripts, code, emoji, chat JSON) repeated to
    about 2 MB; random text (code points of many scripts, random bytes as UTF-8); adversarial
    repetitions and whitespace runs."""
    rng = __import__("random").Random(99)
    ordinary = list(make_corpus.SCRIPTS) + list(make_corpus.EMOJI) + list(make_corpus.CODE)
    mixed = []
    while sum(len(d.encode()) for d in mixed) < 2_000_000:
        mixed += ordinary
    random_text = make_corpus.random_script_mix(rng, 40, 3000) + make_corpus.random_bytes_as_utf8(rng, 40, 4000)
    # English and code as they come: this repository's READMEs and C++ sources, up to 2 MB.
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    repo = []
    for top in ("README.md", "docs", "sidecar", "plugins"):
        for dirpath, _, files in sorted(os.walk(os.path.join(root, top))) if top != "README.md" else [(root, None, [top])]:
            for f in sorted(files):
                if f.endswith((".md", ".cc", ".h")) and sum(len(d.encode()) for d in repo) < 2_000_000:
                    with open(os.path.join(dirpath, f), encoding="utf-8", errors="replace") as fh:
                        repo.append(fh.read())
    return {"english_code": repo, "mixed": mixed, "random": random_text,
            "adversarial": make_corpus.repetitions() + list(make_corpus.WHITESPACE)}


def read_corpus(path):
    with open(path, "rb") as f:
        data = f.read()
    docs, pos = [], 0
    while pos + 8 <= len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        docs.append(data[pos + 8:pos + 8 + n].decode("utf-8"))
        pos += 8 + n
    return docs, len(data) - 8 * len(docs)


def main():
    if sys.argv[1] == "corpus":
        for name, docs in corpora().items():
            make_corpus.write_corpus(os.path.join(sys.argv[2], name + ".bin"), docs)
        return
    tiktoken_dir, corpus, name = sys.argv[2:5]
    docs, size = read_corpus(corpus)
    with tempfile.TemporaryDirectory() as cache:
        enc = identity_test.offline_tiktoken(tiktoken_dir, cache).get_encoding(name)
        best, tokens = None, 0
        for _ in range(5):
            start = time.process_time()
            tokens = sum(len(enc.encode_ordinary(d)) for d in docs)
            elapsed = time.process_time() - start
            best = elapsed if best is None else min(best, elapsed)
    print(f"{size / best / 1e6:.3f} {tokens}")


if __name__ == "__main__":
    main()
