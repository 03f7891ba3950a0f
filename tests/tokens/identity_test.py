"""Token ids of guardrail.tokens' encoder against Python tiktoken, on the generated corpus.

1. The .tiktoken files the build produced from the npm package go into a private
   TIKTOKEN_CACHE_DIR under the names tiktoken gives its downloads (sha1 of the blob URL).
   Downloading is disabled, so tiktoken.get_encoding() succeeds only if each file's SHA-256 is
   the one tiktoken expects: the npm data is OpenAI's official rank data.
2. Every document of make_corpus.generate() is encoded by tests/tokens/tokens_encode (C++) and by
   tiktoken's encode_ordinary; ids (and so counts) must be identical, for both encodings.

   identity_test.py TOKENS_ENCODE_BINARY TIKTOKEN_DIR
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_corpus  # noqa: E402

ENCODINGS = {
    # tiktoken_ext/openai_public.py: the blob URL and expected_hash of each rank file.
    "o200k_base": ("https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
                   "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
    "cl100k_base": ("https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
                    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
}


def offline_tiktoken(tiktoken_dir, cache_dir):
    for name, (url, sha256) in ENCODINGS.items():
        path = os.path.join(tiktoken_dir, name + ".tiktoken")
        with open(path, "rb") as f:
            data = f.read()
        actual = hashlib.sha256(data).hexdigest()
        assert actual == sha256, f"{path}: SHA-256 {actual}, tiktoken expects {sha256}"
        shutil.copyfile(path, os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest()))
    os.environ["TIKTOKEN_CACHE_DIR"] = cache_dir
    import tiktoken
    import tiktoken.load

    def no_download(blobpath):
        raise AssertionError(f"tiktoken tried to download {blobpath}: the cached rank file was refused")

    tiktoken.load.read_file = no_download
    return tiktoken


def main():
    tool, tiktoken_dir = sys.argv[1], sys.argv[2]
    docs = make_corpus.generate()
    size = sum(len(d.encode("utf-8")) for d in docs)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        tiktoken = offline_tiktoken(tiktoken_dir, tmp)
        corpus = os.path.join(tmp, "corpus.bin")
        make_corpus.write_corpus(corpus, docs)
        for name in ENCODINGS:
            enc = tiktoken.get_encoding(name)
            out = subprocess.run([tool, name, corpus], check=True, capture_output=True, text=True).stdout
            lines = out.split("\n")[:-1]
            assert len(lines) == len(docs), f"{name}: {len(lines)} lines for {len(docs)} documents"
            tokens = 0
            for i, (doc, line) in enumerate(zip(docs, lines)):
                ours = [int(t) for t in line.split()]
                theirs = enc.encode_ordinary(doc)
                tokens += len(theirs)
                if ours != theirs:
                    failures += 1
                    at = next((k for k, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
                    print(f"FAIL {name} document {i} ({len(doc)} chars): {len(ours)} ids vs tiktoken's {len(theirs)};"
                          f" first difference at id {at}: ours {ours[at:at + 5]} tiktoken {theirs[at:at + 5]}"
                          f" around {enc.decode(theirs[max(0, at - 3):at + 3])!r}")
            print(f"{name}: {len(docs)} documents, {size} bytes, {tokens} tokens, ids identical: {failures == 0}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
