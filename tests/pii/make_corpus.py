#!/usr/bin/env python3
"""Writes the labelled PII corpus guardrail.pii is evaluated on (corpus.jsonl, one JSON object a
line): Faker's names, addresses, e-mails, IBANs, SSNs and IPs, and values this script builds from
the schemes' published rules (card IIN ranges and lengths with a Luhn digit, phone numbers in
E.164 and national formats, API keys and tokens in their vendors' shapes), set in sentence
templates between Faker prose. Every record lists its entities' spans; look-alikes that must not
be reported (a broken Luhn or mod-97 digit, SSN areas 000/666/9xx, group 00, serial 0000,
out-of-range IPv4 octets) are listed as negatives.

    python3 -m pip install faker==40.*   # from PyPI
    python3 tests/pii/make_corpus.py [--records 3000] [--seed 12] > tests/pii/corpus.jsonl
    python3 tests/pii/make_corpus.py --mixed --records 300 > tests/pii/bench_corpus.jsonl

--mixed writes the benchmark's corpus: chat-sized texts of Faker prose (about 2 KB each) where
one in ten carries a labelled record's personal data, closer to traffic than the dense corpus.
"""
import argparse
import base64
import json
import random
import string
import sys

from faker import Faker

ALNUM = string.ascii_letters + string.digits


def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


# Scheme: (IIN prefixes, lengths), as in the schemes' published ranges.
CARD_SCHEMES = {
    "visa": (["4"], [13, 16, 19]),
    "mastercard": ([str(p) for p in range(51, 56)] + [str(p) for p in range(2221, 2721, 37)], [16]),
    "amex": (["34", "37"], [15]),
    "discover": (["6011", "644", "649", "65", "622126", "622925"], [16, 19]),
    "jcb": (["3528", "3589", "3550"], [16]),
    "jcb15": (["1800", "2131"], [15]),
    "maestro": (["5018", "5020", "5038", "6304", "6759", "6761", "56", "58"], [12, 13, 16, 19]),
    "unionpay": (["62"], [16, 17, 18, 19]),
    "diners": (["300", "305", "36", "38"], [14]),
}


def card(rng, broken=False):
    scheme = rng.choice(sorted(CARD_SCHEMES))
    prefixes, lengths = CARD_SCHEMES[scheme]
    prefix, length = rng.choice(prefixes), rng.choice(lengths)
    if scheme == "unionpay" and prefix == "62":
        prefix = "627"  # keeps clear of Discover's 622126-622925
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    check = luhn_digit(body)
    if broken:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    digits = body + check
    style = rng.random()
    if style < 0.4:
        return digits
    sep = " " if style < 0.75 else "-"
    if length == 15:
        groups = [digits[:4], digits[4:10], digits[10:]]
    elif length == 14:
        groups = [digits[:4], digits[4:10], digits[10:]]
    else:
        groups = [digits[i:i + 4] for i in range(0, length, 4)]
    return sep.join(groups)


IBAN_LOCALES = ["en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_PT", "pl_PL", "de_AT", "fr_CH"]


def iban(fakers, rng, broken=False):
    value = fakers[rng.choice(IBAN_LOCALES)].iban()
    if broken:
        check = int(value[2:4])
        value = value[:2] + "%02d" % ((check + rng.randint(1, 90)) % 97 or 1) + value[4:]
        if value[2:4] == "%02d" % check:
            value = value[:2] + "%02d" % ((check + 1) % 97) + value[4:]
    if rng.random() < 0.5:
        value = " ".join(value[i:i + 4] for i in range(0, len(value), 4))
    return value


def ssn(fake, rng, bad=False):
    if not bad:
        value = fake.ssn()
    else:
        area, group, serial = rng.randint(1, 899), rng.randint(1, 99), rng.randint(1, 9999)
        which = rng.randrange(5)
        if which == 0:
            area = 0
        elif which == 1:
            area = 666
        elif which == 2:
            area = rng.randint(900, 999)
        elif which == 3:
            group = 0
        else:
            serial = 0
        value = "%03d-%02d-%04d" % (area, group, serial)
    return value


US_AREAS = ["212", "415", "646", "312", "617", "206", "303", "512", "702", "404", "305", "213", "718", "503"]


def phone(rng):
    kind = rng.random()
    if kind < 0.6:
        area, exchange, line = rng.choice(US_AREAS), str(rng.randint(201, 989)), "%04d" % rng.randint(0, 9999)
        if exchange in ("555", "911") or exchange[1:] == "11":
            exchange = "472"
        return rng.choice(["(%s) %s-%s", "%s-%s-%s", "%s.%s.%s", "+1 %s %s %s", "+1-%s-%s-%s"]) % (area, exchange, line)
    if kind < 0.75:
        return "+44 20 7946 0%03d" % rng.randint(0, 999)  # Ofcom's drama range, London
    if kind < 0.9:
        return "+49 30 %d" % rng.randint(10000000, 99999999)  # Berlin
    return "+33 1 %02d %02d %02d %02d" % tuple(rng.randint(0, 99) for _ in range(4))  # Paris


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rand(rng, alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def mixed(rng, alphabet, n):
    while True:
        s = rand(rng, alphabet, n)
        if any(c.isupper() for c in s) and any(c.islower() for c in s) and any(c.isdigit() for c in s):
            return s


def secret(fake, rng):
    kind = rng.randrange(9)
    if kind == 0:
        return "OPENAI_KEY", "the OpenAI key", "sk-proj-" + mixed(rng, ALNUM, 20) + "T3BlbkFJ" + mixed(rng, ALNUM, 20)
    if kind == 1:
        return "ANTHROPIC_KEY", "the Anthropic key", "sk-ant-api03-" + mixed(rng, ALNUM + "_-", 93) + "AA"
    if kind == 2:
        return "AWS_ACCESS_KEY", "access key id", rng.choice(["AKIA", "ASIA"]) + rand(rng, string.ascii_uppercase + string.digits, 16)
    if kind == 3:
        return "AWS_SECRET_KEY", "aws_secret_access_key =", mixed(rng, ALNUM + "/+", 40)
    if kind == 4:
        return "GITHUB_TOKEN", "the GitHub token", rng.choice(["ghp_", "gho_", "ghs_"]) + mixed(rng, ALNUM, 36)
    if kind == 5:
        return "SLACK_TOKEN", "the Slack bot token", "xoxb-%d-%d-%s" % (rng.randint(10**11, 10**12 - 1), rng.randint(10**11, 10**12 - 1), mixed(rng, ALNUM, 24))
    if kind == 6:
        return "GOOGLE_API_KEY", "the Maps key", "AIza" + mixed(rng, ALNUM + "_-", 35)
    if kind == 7:
        header = b64url(json.dumps({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
        payload = b64url(json.dumps({"sub": fake.uuid4(), "name": fake.name(), "iat": rng.randint(10**9, 2 * 10**9)}).encode())
        return "JWT", "Bearer", header + "." + payload + "." + b64url(rng.randbytes(32))
    body = "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(rng.randint(3, 8)))
    kind_name = rng.choice(["", "RSA ", "EC ", "OPENSSH "])
    return "PRIVATE_KEY", "key file:", "-----BEGIN %sPRIVATE KEY-----\n%s\n-----END %sPRIVATE KEY-----" % (kind_name, body, kind_name)


def day(rng):
    # Not fake.date(): it draws up to today, so the corpus would change with the calendar.
    return "%04d-%02d-%02d" % (rng.randint(1970, 2024), rng.randint(1, 12), rng.randint(1, 28))


class Record:
    def __init__(self):
        self.text, self.entities, self.negatives = "", [], []

    def add(self, s):
        self.text += s

    def entity(self, kind, value, negative=False):
        start = len(self.text)
        self.text += value
        (self.negatives if negative else self.entities).append({"type": kind, "start": start, "end": len(self.text)})

    def json(self):
        return json.dumps({"text": self.text, "entities": self.entities, "negatives": self.negatives}, ensure_ascii=False)


def build(fake, fakers, rng):
    r = Record()
    r.add(fake.sentence(nb_words=rng.randint(4, 12)) + " ")
    for _ in range(rng.randint(1, 3)):
        pick = rng.randrange(14)
        name = fake.name()
        if pick == 0:
            r.add("Please write to %s at " % name); r.entity("EMAIL", rng.choice([fake.email(), fake.company_email(), fake.free_email()])); r.add(".")
        elif pick == 1:
            r.add("%s can be reached on " % name); r.entity("PHONE", phone(rng)); r.add(" after 5pm.")
        elif pick == 2:
            r.add("Charge the card "); r.entity("CREDIT_CARD", card(rng)); r.add(" for $%d.%02d." % (rng.randint(1, 999), rng.randint(0, 99)))
        elif pick == 3:
            r.add("Transfer to IBAN "); r.entity("IBAN", iban(fakers, rng)); r.add(", ref %s." % fake.bothify("??-####"))
        elif pick == 4:
            r.add(rng.choice(["Her SSN is ", "SSN: ", "Social security number ", "Applicant "])); r.entity("US_SSN", ssn(fake, rng)); r.add(".")
        elif pick == 5:
            r.add("Login from "); r.entity("IP_ADDRESS", fake.ipv4()); r.add(" at %02d:%02d:%02d." % (rng.randrange(24), rng.randrange(60), rng.randrange(60)))
        elif pick == 6:
            r.add("The host is "); r.entity("IP_ADDRESS", fake.ipv6()); r.add(" in %s." % fake.city())
        elif pick == 7:
            kind, context, value = secret(fake, rng)
            r.add("Rotate %s " % context); r.entity(kind, value); r.add(" today.")
        elif pick == 8:
            r.add("The card on file, "); r.entity("CREDIT_CARD", card(rng, broken=True), negative=True); r.add(", was declined.")
        elif pick == 9:
            r.add("IBAN "); r.entity("IBAN", iban(fakers, rng, broken=True), negative=True); r.add(" failed validation.")
        elif pick == 10:
            r.add("SSN "); r.entity("US_SSN", ssn(fake, rng, bad=True), negative=True); r.add(" is not issued.")
        elif pick == 11:
            r.add("Bad address "); r.entity("IP_ADDRESS", "%d.%d.%d.%d" % (rng.randint(256, 999), rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)), negative=True); r.add(".")
        elif pick == 12:
            r.add("Order %s shipped on %s to %s, %s." % (fake.bothify("#########"), day(rng), fake.street_address(), fake.postcode()))
        else:
            r.add("%s paid %s %s on %s (invoice %s)." % (name, fake.currency_code(), fake.pricetag(), day(rng), fake.bothify("INV-#######")))
        r.add(" " + fake.sentence(nb_words=rng.randint(3, 10)) + " ")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--mixed", action="store_true")
    args = ap.parse_args()
    Faker.seed(args.seed)
    fake = Faker("en_US")
    fakers = {loc: Faker(loc) for loc in IBAN_LOCALES}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(args.seed + i + 1)
    rng = random.Random(args.seed)
    for i in range(args.records):
        if not args.mixed:
            sys.stdout.write(build(fake, fakers, rng).json() + "\n")
            continue
        r = Record()
        while len(r.text) < 2000:
            r.add(fake.paragraph(nb_sentences=rng.randint(3, 8)) + "\n\n")
        if i % 10 == 0:
            inner = build(fake, fakers, rng)
            shift = len(r.text)
            r.add(inner.text)
            r.entities += [dict(e, start=e["start"] + shift, end=e["end"] + shift) for e in inner.entities]
            r.negatives += [dict(e, start=e["start"] + shift, end=e["end"] + shift) for e in inner.negatives]
        sys.stdout.write(r.json() + "\n")


if __name__ == "__main__":
    main()
