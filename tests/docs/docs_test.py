"""Every ```toml block in the repository's Markdown is valid TOML, so a reader who copies one gets
no parse error (TOML 1.0, as toml++ reads it: an inline table stays on one line). Blocks with
<placeholder> names are templates and are skipped.

Run by CTest (tests/docs/CMakeLists.txt): python3 tests/docs/docs_test.py
"""

import re
import tomllib
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", "build", "node_modules", ".venv", "venv"}
BLOCK = re.compile(r"^```toml\n(.*?)^```", re.S | re.M)
PLACEHOLDER = re.compile(r"<[a-z_][a-z_ -]*>")


def markdown_files():
    for path in ROOT.rglob("*.md"):
        if not SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
            yield path


class TomlBlocks(unittest.TestCase):
    def test_every_toml_block_parses(self):
        checked, problems = 0, []
        for path in markdown_files():
            text = path.read_text(encoding="utf-8")
            for block in BLOCK.finditer(text):
                body = block.group(1)
                if PLACEHOLDER.search(body):
                    continue
                checked += 1
                try:
                    tomllib.loads(body)
                except tomllib.TOMLDecodeError as e:
                    line = text.count("\n", 0, block.start()) + 2
                    problems.append(f"{path.relative_to(ROOT)}:{line}: {e}")
        self.assertGreater(checked, 10)  # the scan found the blocks
        self.assertEqual(problems, [], "\n".join(problems))


if __name__ == "__main__":
    unittest.main()
