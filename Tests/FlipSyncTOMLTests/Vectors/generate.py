#!/usr/bin/env python3
"""TOML test vectors from Python's tomllib (the oracle), reproducible from a fixed seed.

Writes vectors.json: {"valid": [{"toml": TEXT, "canonical": STRING}],
                      "invalid": [{"toml": TEXT, "line": N}]}
`canonical` is a type-tagged rendering both sides can produce exactly (floats by bit pattern).
Documents come from hand-written cases, a random generator, and random single-byte mutations of
the generated documents (kept valid or invalid, whatever tomllib says).
"""
import datetime
import json
import random
import re
import struct
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def canonical(v) -> str:
    if isinstance(v, bool):
        return "bool:" + ("true" if v else "false")
    if isinstance(v, int):
        return f"int:{v}"
    if isinstance(v, float):
        if v != v:
            return "float:nan"
        return "float:" + struct.pack(">d", v).hex()
    if isinstance(v, str):
        return "string:" + json.dumps(v, ensure_ascii=True)
    if isinstance(v, datetime.datetime):
        base = f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
        if v.tzinfo is None:
            return "datetime-local:" + base
        off = int(v.utcoffset().total_seconds())
        return f"datetime:{base}{off:+d}"
    if isinstance(v, datetime.date):
        return f"date-local:{v.year:04d}-{v.month:02d}-{v.day:02d}"
    if isinstance(v, datetime.time):
        return f"time-local:{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=True) + ":" + canonical(v[k]) for k in sorted(v)) + "}"
    raise TypeError(type(v))


def fits_int64(v) -> bool:
    if isinstance(v, bool):
        return True
    if isinstance(v, int):
        return -(2**63) <= v < 2**63
    if isinstance(v, list):
        return all(fits_int64(x) for x in v)
    if isinstance(v, dict):
        return all(fits_int64(x) for x in v.values())
    return True


def rand_key(rng):
    r = rng.random()
    if r < 0.7:
        return rng.choice(["name", "kind", "a", "b", "c", "x-y", "key_1", "1234", "true", "Ünï"[0:0] + "z"])
    if r < 0.85:
        return json.dumps(rng.choice(["quoted key", "a.b", "", "tab\there", "é"]), ensure_ascii=rng.random() < 0.5)
    return "'" + rng.choice(["lit", "with space", "a\"b"]) + "'"


def rand_string(rng):
    pieces = ["plain", "with \\\"quote\\\"", "tab\\tnl\\n", "\\u00e9\\U0001F600", "é日本", "back\\\\slash", ""]
    r = rng.random()
    if r < 0.5:
        return '"' + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 3))) + '"'
    if r < 0.7:
        return "'" + rng.choice(["C:\\path", "no escapes \\n", "\"dq\"", ""]) + "'"
    if r < 0.88:
        body = rng.choice(["\nline1\nline2", "one \\\n    two", "quotes \"\" inside", "ends with quote\"", "\\t\n"])
        return '"""' + body + '"""'
    return "'''" + rng.choice(["\nraw\nlines", "it's", "ends''"]) + "'''"


def rand_scalar(rng):
    r = rng.random()
    if r < 0.3:
        return rand_string(rng)
    if r < 0.5:
        return rng.choice(["0", "42", "-17", "+99", "1_000_000", "0xDEAD_beef", "0o755", "0b1101", "9223372036854775807",
                           "-9223372036854775808"])
    if r < 0.65:
        return rng.choice(["3.14", "-0.01", "5e+22", "1e06", "-2E-2", "6.626e-34", "224_617.445_991", "inf", "-inf",
                           "nan", "+nan", "0.0", "-0.0", "1_0.5e1_0"])
    if r < 0.75:
        return rng.choice(["true", "false"])
    return rng.choice(["1979-05-27T07:32:00Z", "1979-05-27T00:32:00.999999-07:00", "1979-05-27 07:32:00+05:30",
                       "1979-05-27T07:32:00", "1979-05-27T00:32:00.123456789", "1979-05-27", "07:32:00",
                       "00:32:00.5", "2024-02-29t23:59:60z", "2000-12-31"])


def rand_value(rng, depth=0):
    r = rng.random()
    if depth < 3 and r < 0.15:
        n = rng.randint(0, 4)
        sep = ",\n  " if rng.random() < 0.3 else ", "
        items = [rand_value(rng, depth + 1) for _ in range(n)]
        tail = "," if items and rng.random() < 0.3 else ""
        comment = " # c\n" if rng.random() < 0.2 else ""
        return "[" + comment + sep.join(items) + tail + "]"
    if depth < 3 and r < 0.25:
        keys = list(dict.fromkeys(rand_key(rng) for _ in range(rng.randint(0, 3))))
        return "{" + ", ".join(f"{k} = {rand_value(rng, depth + 1)}" for k in keys) + "}"
    return rand_scalar(rng)


def rand_doc(rng):
    lines = []
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.12:
            lines.append(f"[{rand_key(rng)}]")
        elif r < 0.18:
            lines.append(f"[{rand_key(rng)}.{rand_key(rng)}]")
        elif r < 0.25:
            lines.append(f"[[{rand_key(rng)}]]")
        elif r < 0.3:
            lines.append("# a comment " + rng.choice(["", "é", "= [x]"]))
        elif r < 0.33:
            lines.append("")
        else:
            key = rand_key(rng) if rng.random() < 0.8 else f"{rand_key(rng)}.{rand_key(rng)}"
            lines.append(f"{key} = {rand_value(rng)}" + (" # trailing" if rng.random() < 0.1 else ""))
    return "\n".join(lines) + ("\n" if rng.random() < 0.8 else "")


HAND_VALID = [
    "", "# only a comment\n", "a = 1\r\nb = 2\r\n", "a.b.c = 1\na.b.d = 2\n",
    "[a]\nb.c = 1\n[a.d]\ne = 2\n", "[[fruit]]\nname = 'apple'\n[fruit.physical]\ncolor = 'red'\n[[fruit.variety]]\nname = 'x'\n[[fruit]]\nname = 'banana'\n",
    "[x.y.z.w]\n[x]\n", "a = \"\"\"\nRoses\\\n   are red\"\"\"\n", "a = '''\n\nfirst newline trimmed'''\n",
    "a = \"\"\"\"quoted\" \"\"\"\n", "a = [\n  1,\n  2, # two\n]\n", "t = {a = 1, b.c = 2}\n",
    "\"\" = 1\n", "'' = 2\n", "a = 1979-05-27T07:32:00.999999999Z\n", "site.\"google.com\" = true\n",
    "a = [[1, 2], ['a', \"b\"], [1.0, 2]]\n", "int = 0\nneg = -0\npos = +0\n", "3.14159 = 'pi'\n",
]
HAND_INVALID = [  # (document, line of the error)
    ("a = 1\na = 2\n", 2), ("a = \"unterminated\n", 1), ("a = 1\nb = \n", 2), ("a 1\n", 1), ("[a]\n[a]\n", 2),
    ("a = {b = 1}\na.c = 2\n", 2), ("a = [1]\n[[a]]\n", 2), ("[a.b]\n[a]\nb = 1\n", 3), ("a = 01\n", 1),
    ("a = 1__0\n", 1), ("a = 0x\n", 1), ("a = 9223372036854775808\n", 1), ("a = 1.\n", 1), ("a = .5\n", 1),
    ("a = \"\\q\"\n", 1), ("a = \"\\uD800\"\n", 1), ("a = 1979-02-30\n", 1), ("a = 24:00:00\n", 1),
    ("a = {b = 1,}\n", 1), ("a = {b = 1\n}\n", 1), ("a = [1 2]\n", 1), ("[a\n", 1), ("[[a]\n", 1),
    ("a = 1 b = 2\n", 1), ("a = tru\n", 1), ("a = \"x\" # \x01\n", 1), ("a = 1\rb = 2\n", 1),
    ("\n\nkey = \"\"\"never closed\n", 3), ("a.b = 1\n[a.b]\n", 2), ("[a]\nb = 1\n[a.b]\n", 3),
    ("a = 1979-05-27T07:32\n", 1), ("a = \"\"\"a\"\"\"\"\"\"\n", 1), ("= 1\n", 1), ("a = +0x10\n", 1),
]


def main():
    rng = random.Random(1125)
    valid, invalid = [], []

    def add(doc, expected_line=None):
        try:
            value = tomllib.loads(doc)
            if not fits_int64(value):
                # Python's ints are unbounded; TOML asks for 64 bits, and so do we.
                raise tomllib.TOMLDecodeError("integer out of range (at line 1)")
        except tomllib.TOMLDecodeError as e:
            m = re.search(r"at line (\d+)", str(e))
            line = expected_line or (int(m.group(1)) if m else None)
            invalid.append({"toml": doc, "line": line})
        else:
            valid.append({"toml": doc, "canonical": canonical(value)})

    for doc in HAND_VALID:
        add(doc)
    for doc, line in HAND_INVALID:
        add(doc, line)
    docs = [rand_doc(rng) for _ in range(700)]
    for doc in docs:
        add(doc)
    for _ in range(1500):
        doc = rng.choice(docs) or "a = 1\n"
        i = rng.randrange(len(doc))
        op = rng.random()
        if op < 0.4:
            doc = doc[:i] + doc[i + 1:]
        elif op < 0.8:
            doc = doc[:i] + rng.choice("=[]{}\"'.,#\n \\x0_+-:Tz") + doc[i:]
        else:
            lines = doc.split("\n")
            j = rng.randrange(len(lines))
            lines.insert(j, lines[j])
            doc = "\n".join(lines)
        add(doc, None)
    # tomllib's line for some errors is where it noticed, not where the fault is; keep only
    # lines from the hand-written cases, and for mutations only the fact that it must fail.
    hand = {d for d, _ in HAND_INVALID}
    for case in invalid:
        if case["toml"] not in hand:
            case["line"] = None
    with open(HERE / "vectors.json", "w") as f:
        json.dump({"valid": valid, "invalid": invalid}, f, ensure_ascii=True, indent=0)
    print(f"{len(valid)} valid, {len(invalid)} invalid")


if __name__ == "__main__":
    main()
