"""The token-count identity corpus: seeded, so every run (and the benchmark) sees the same text.

Documents: prose in many scripts, emoji (ZWJ sequences, skin tones, flags, keycaps), source code,
long and mixed whitespace runs, adversarial repetitions of 10,000+ characters (whole, and shorter
ones with a few characters changed), the text of special tokens, and random bytes decoded as
UTF-8 where valid. write_corpus() stores them as
<u64 little-endian length><UTF-8 bytes> records, the format tests/tokens/tokens_encode.cc reads.
"""
import random
import struct

SCRIPTS = [
    "The quick brown fox jumps over the lazy dog. It's 3:45pm; we'll see. DON'T PANIC! I'm sure they've gone.",
    "Ça m'étonnerait qu'il soit déjà là — naïve façade, cœur, Œuvre, Straße, Ærøskøbing, Łódź, Ñandú.",
    "Ελληνικά: Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο. ΑΒΓΔ αβγδ ς.",
    "Русский: Съешь же ещё этих мягких французских булок, да выпей чаю. ЁЖИК ёжик.",
    "العربية: نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق. ١٢٣٤٥",
    "עברית: דג סקרן שט בים מאוכזב ולפתע מצא לו חברה. שָׁלוֹם",
    "हिन्दी: ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले विष्णुवतार भगवान श्रीराम। १२३",
    "বাংলা: আমি বাংলায় গান গাই। தமிழ்: யாமறிந்த மொழிகளிலே தமிழ்மொழி போல் இனிதாவது எங்கும் காணோம்.",
    "ไทย: เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน",
    "中文：我能吞下玻璃而不伤身体。繁體字：我能吞下玻璃而不傷身體。日本語：いろはにほへと ちりぬるを カタカナ ｶﾀｶﾅ",
    "한국어: 다람쥐 헌 쳇바퀴에 타고파. 키스의 고유조건은 입술끼리 만나야 하고 특별한 기술은 필요치 않다.",
    "ქართული: სალამი. Հայերեն: Բարեւ. አማርኛ: ሰላም. Tiếng Việt: Tôi có thể ăn thủy tinh mà không hại gì.",
    "Math: ∀x∈ℝ, ∃y: x² + y² ≥ 2xy; ∑ᵢ aᵢ ≤ ∞; ½ ¾ ⅞ Ⅻ ⑫ ２０２６ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
    "Combining: e\u0301 a\u0300 n\u0303 Z\u0351\u0345a\u0353l\u0326g\u0330o\u0347 ı İ ǅ ǈ ﬁ ﬀ ſ K Å",
    "Contractions: It's, IT'S, it’s, they'VE, we'Ll, I'D, 'ſ 'S 'st 're've'm'll'd, don't'd've",
]

EMOJI = [
    "👋🏽 👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🏴‍☠️ 🧑🏿‍🦱 ❤️‍🔥 🫱🏻‍🫲🏿 🇫🇷🇯🇵🇺🇸 #️⃣ 1️⃣ ©️ ™️ 🤷‍♀️ 😀😃😄😁",
    "Ship it 🚀🚀🚀!!! (╯°□°)╯︵ ┻━┻ ¯\\_(ツ)_/¯ 💯✅❌⚠️ ✨🎉",
]

CODE = [
    '#include <vector>\nint main(int argc, char** argv) {\n  std::vector<int> v{1, 2, 3};\n'
    '  for (auto& x : v) x *= 2;  // double\n  return v.size() > 2 ? 0 : 1;\n}\n',
    'def fib(n: int) -> int:\n    """Fibonacci."""\n    a, b = 0, 1\n    for _ in range(n):\n'
    '        a, b = b, a + b\n    return a\n\nprint(f"{fib(30)=}")\n',
    '{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi\\n\\t\\u00e9"}], "max_tokens": 1024,'
    ' "temperature": 0.7, "tools": [{"type": "function", "function": {"name": "get_weather"}}]}\n',
    "SELECT u.id, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id WHERE o.total > 100.50 GROUP BY 1;\n",
    "<html><body><div class=\"x\">&nbsp;&lt;tag&gt;</div><!-- c --></body></html>\r\n",
    "fn main() { let s: &str = \"héllo\"; println!(\"{s:?} {}\", s.len()); } // 0xDEADBEEF 1_000_000 3.14e-10\n",
    "    \tindented\n\t\t  mixed\t \n        deep()\n\n\n",
]

WHITESPACE = [
    " " * 10000 + "word",
    "word" + " " * 12000,
    "\n" * 10000,
    "\t" * 5000 + "x" + " \t" * 5000,
    "\r\n" * 6000 + "end",
    "a \n \n \n b   \n\n\n   c  \t\n\r\n\u00a0\u00a0x\u3000\u3000y\u2003z\u0085\u0085q\u2028\u2029r\u000b\u000c",
    "  leading and trailing  ",
    " ".join(["spaced"] * 2000) + "   " * 3000 + "\n\n  ",
    "\u00a0" * 3000 + "nbsp" + "\u3000" * 3000 + "\u0085" * 500,
]

SPECIAL_TEXT = [
    "<|endoftext|> <|endofprompt|> <|fim_prefix|>x<|fim_middle|>y<|fim_suffix|> <|im_start|>user<|im_end|>",
]


def repetitions():
    out = [
        "a" * 20000,
        "ab" * 10000,
        " a" * 10000,
        "0" * 15000,
        "1234567890" * 1500,
        "!" * 12000,
        "é" * 10000,
        "e\u0301" * 6000,
        "😀" * 5000,
        "👨‍👩‍👧‍👦" * 1000,
        "'s" * 6000,
        "ஆ" * 8000,
        "中" * 10000,
        "=" * 3000 + "-" * 3000 + "." * 3000 + "_" * 3000,
        "abc" * 4000 + "ABC" * 4000,
        "na" * 8000 + " batman",
    ]
    rng = random.Random(12)
    # Long words over a small alphabet: many merges inside one piece.
    for alphabet in ("ab", "abc", "xyz ", "ing", "thequick"):
        out.append("".join(rng.choice(alphabet) for _ in range(12000)))
    return out


def mutated_repetitions(rng, count):
    # A short unit repeated for thousands of characters with a few characters changed: the long
    # pieces whose merges of one rank sit side by side, broken here and there.
    alphabets = ["ab", "xyz ", "ing", "thequick", "é e", "中文字", "😀👍", "0123", "!?.,"]
    docs = []
    for _ in range(count):
        alphabet = rng.choice(alphabets)
        unit = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        chars = list((unit * (4000 // len(unit) + 1))[:rng.randint(300, 4000)])
        for _ in range(rng.randint(1, 6)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        docs.append("".join(chars))
    return docs


def random_bytes_as_utf8(rng, count, size):
    docs = []
    for _ in range(count):
        raw = bytes(rng.getrandbits(8) for _ in range(size))
        docs.append(raw.decode("utf-8", errors="ignore"))
    return docs


def random_script_mix(rng, count, size):
    # Code points from blocks assigned long ago (so every Unicode version agrees on them).
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF),
              (0x900, 0x97F), (0xE00, 0xE5B), (0x3040, 0x30FF), (0x4E00, 0x9FA5), (0xAC00, 0xD7A3),
              (0x2000, 0x206F), (0x1F600, 0x1F64F), (0x1F300, 0x1F5FF)]
    docs = []
    for _ in range(count):
        chars = []
        for _ in range(size):
            lo, hi = rng.choice(ranges)
            chars.append(chr(rng.randint(lo, hi)))
            if rng.random() < 0.15:
                chars.append(rng.choice([" ", " ", "\n", "  ", "\t", "'s", "'LL"]))
        docs.append("".join(chars))
    return docs


def generate(seed=20260101):
    rng = random.Random(seed)
    docs = list(SCRIPTS) + list(EMOJI) + list(CODE) + list(WHITESPACE) + list(SPECIAL_TEXT)
    docs.append("\n".join(SCRIPTS + EMOJI + CODE))  # one long mixed document
    docs += repetitions()
    docs += mutated_repetitions(rng, 30)
    docs += random_bytes_as_utf8(rng, 40, 4000)
    docs += random_script_mix(rng, 40, 3000)
    docs += ["", " ", "a", "\n", "😀", "'", "'s"]
    return docs


def write_corpus(path, docs):
    with open(path, "wb") as f:
        for d in docs:
            b = d.encode("utf-8")
            f.write(struct.pack("<Q", len(b)))
            f.write(b)


if __name__ == "__main__":
    import sys
    docs = generate()
    write_corpus(sys.argv[1], docs)
    print(f"{len(docs)} documents, {sum(len(d.encode()) for d in docs)} bytes")
