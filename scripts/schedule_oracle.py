#!/usr/bin/env python3
"""Schedule test vectors from independent oracles.

    generate  write Tests/FlipSyncCoreTests/Vectors/{calendar,cron}.json (fixed seed, reproducible
              with the same systemd, cronsim and tzdata)
    check     draw fresh random cases (a new seed each run unless --seed) and compare
              `flipsyncctl next` with the oracles; exit 1 on any disagreement

Oracles: `systemd-analyze calendar --base-time=@T --iterations=N` (systemd's own code) for
OnCalendar expressions, and the PyPI package `cronsim` (Debian cron's semantics, DST included)
for cron expressions. Cases are weighted towards daylight-saving transitions in the zones below
and towards leap days.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ZONES = [
    "America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe",
    "Asia/Kolkata", "Pacific/Chatham", "UTC", "America/Los_Angeles", "Europe/London",
]
DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
LONG_DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
CRON_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
CRON_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
ITERATIONS = 6
VECTOR_DIR = Path(__file__).resolve().parent.parent / "Tests" / "FlipSyncCoreTests" / "Vectors"


def transitions(zone: str, start_year: int = 2024, end_year: int = 2045) -> list[int]:
    """UTC instants where the zone's offset changes (found by hourly scanning, then bisection)."""
    if zone == "UTC":
        return []
    tz = ZoneInfo(zone)
    out = []
    t = int(datetime(start_year, 1, 1, tzinfo=timezone.utc).timestamp())
    end = int(datetime(end_year, 1, 1, tzinfo=timezone.utc).timestamp())
    step = 6 * 3600

    def off(x: int):
        return datetime.fromtimestamp(x, tz).utcoffset()

    prev = off(t)
    while t < end:
        nxt = t + step
        o = off(nxt)
        if o != prev:
            lo, hi = t, nxt
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if off(mid) == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
            prev = o
        t = nxt
    return out


_TRANSITIONS: dict[str, list[int]] = {}


def random_base(rng: random.Random, zone: str) -> int:
    """A base time: near a DST transition (60%), near a leap day (15%), or anywhere 2025-2045."""
    if zone not in _TRANSITIONS:
        _TRANSITIONS[zone] = transitions(zone)
    trans = _TRANSITIONS[zone]
    roll = rng.random()
    if trans and roll < 0.6:
        t = rng.choice(trans)
        # Often exactly around the jump, sometimes hours or a day before it.
        return t + rng.choice([-1, 0, 1, -60, 59, -1800, 1799, -3600, 3599, -5400]) if rng.random() < 0.5 \
            else t + rng.randint(-36 * 3600, 6 * 3600)
    if roll < 0.75:
        year = rng.choice([2028, 2032, 2036, 2040, 2044])
        t = int(datetime(year, 2, 28, tzinfo=timezone.utc).timestamp())
        return t + rng.randint(-2 * 86400, 2 * 86400)
    if roll < 0.85 and trans:
        # Past 2037 the zoneinfo tables end and the POSIX rule in each file's footer decides.
        late = [t for t in trans if t > 2145916800]
        if late:
            return rng.choice(late) + rng.randint(-30 * 3600, 3 * 3600)
    lo = int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp())
    hi = int(datetime(2045, 12, 31, tzinfo=timezone.utc).timestamp())
    return rng.randint(lo, hi)


# ---------------------------------------------------------------------------------------------
# OnCalendar expressions


def cal_component(rng: random.Random, lo: int, hi: int, hot: list[int] | None = None, width: int = 2,
                  star: float = 0.3) -> str:
    def val() -> int:
        if hot and rng.random() < 0.5:
            return rng.choice(hot)
        return rng.randint(lo, hi)

    def fmt(v: int) -> str:
        return str(v).zfill(width) if rng.random() < 0.7 else str(v)

    r = rng.random()
    if r < star:
        return "*"
    if r < star + 0.3:
        return fmt(val())
    if r < star + 0.45:
        return ",".join(fmt(v) for v in sorted({val() for _ in range(rng.randint(2, 4))}))
    if r < star + 0.6:
        a = val()
        b = rng.randint(a, hi)
        return f"{fmt(a)}..{fmt(b)}"
    if r < star + 0.72:
        a = rng.randint(lo, min(hi, lo + 5))
        return f"{fmt(a)}/{rng.randint(1, max(1, (hi - lo) // 2))}"
    a = val()
    b = rng.randint(a, hi)
    return f"{fmt(a)}..{fmt(b)}/{rng.randint(1, 5)}"


def random_calendar(rng: random.Random) -> str:
    if rng.random() < 0.08:
        return rng.choice(["minutely", "hourly", "daily", "weekly", "monthly", "quarterly",
                           "semiannually", "yearly", "annually", "Daily", "semi-annually", "bi-annually"])
    parts = []
    if rng.random() < 0.25:
        names = LONG_DAY_NAMES if rng.random() < 0.2 else DAY_NAMES
        a = rng.randrange(7)
        kind = rng.random()
        if kind < 0.4:
            b = rng.randrange(a, 7)
            parts.append(f"{names[a]}..{names[b]}" if b > a else names[a])
        elif kind < 0.5:
            b = rng.randrange(a, 7)
            parts.append(f"{names[a]}-{names[b]}")
        else:
            parts.append(",".join(names[i] for i in sorted({rng.randrange(7) for _ in range(rng.randint(1, 3))})))
    r = rng.random()
    if r < 0.5:
        year = "*" if rng.random() < 0.8 else cal_component(rng, 2025, 2040, width=4, star=0)
        month = cal_component(rng, 1, 12, hot=[2, 3, 4, 10, 11], star=0.5)
        if rng.random() < 0.12:
            day = cal_component(rng, 1, 28, hot=[1, 2, 3], star=0)
            sep = "~"
        else:
            day = cal_component(rng, 1, 31, hot=[1, 28, 29, 30, 31], star=0.5)
            sep = "-"
        parts.append(f"{year}-{month}{sep}{day}" if rng.random() < 0.8 else f"{month}{sep}{day}")
    if r < 0.9 or not parts:
        hour = cal_component(rng, 0, 23, hot=[0, 1, 2, 3], star=0.35)
        minute = cal_component(rng, 0, 59, hot=[0, 15, 30, 45, 59], star=0.25)
        t = f"{hour}:{minute}"
        if rng.random() < 0.4:
            t += ":" + cal_component(rng, 0, 59, hot=[0, 30, 59], star=0.2)
        parts.append(t)
    return " ".join(parts)


def run_systemd(expr: str, zone: str, via_env: bool, base: int, iterations: int = ITERATIONS) -> dict:
    full = expr if via_env else f"{expr} {zone}"
    env = dict(os.environ, TZ=(zone if via_env else "UTC"), LC_ALL="C")
    proc = subprocess.run(
        ["systemd-analyze", "calendar", f"--base-time=@{base}", f"--iterations={iterations}", full],
        capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        if "Failed to determine next elapse" in proc.stderr:
            # systemd parsed it but its search gave up (its 1000-iteration guard) at some step:
            # record the fire times before that step; the step itself has no answer to compare.
            for shorter in range(iterations - 1, 0, -1):
                prefix = run_systemd(expr, zone, via_env, base, shorter)
                if "next" in prefix:
                    return {"next": prefix["next"], "computeError": True}
            return {"next": [], "computeError": True}
        return {"error": True}
    lines = proc.stdout.splitlines()
    normalized = next((l.split(": ", 1)[1] for l in lines if l.strip().startswith("Normalized form:")), None)
    in_utc = [l for l in lines if l.strip().startswith("(in UTC):")]
    chosen = in_utc if in_utc else [l for l in lines if re.match(r"\s*(Next elapse|Iter\. #\d+):", l)]
    times = []
    for line in chosen:
        m = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC$", line)
        if m:
            dt = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
            times.append(int(dt.timestamp()))
    if not times and "never" not in proc.stdout:
        return {"error": True}
    result = {"next": times}
    if normalized and not via_env:
        # systemd prints the zone suffix it parsed; keep the expression part for comparison.
        result["normalized"] = normalized
    return result


# ---------------------------------------------------------------------------------------------
# cron expressions


def cron_field(rng: random.Random, lo: int, hi: int, hot: list[int], names: list[str] | None = None,
               star: float = 0.35) -> str:
    def val() -> str:
        v = rng.choice(hot) if hot and rng.random() < 0.5 else rng.randint(lo, hi)
        if names and rng.random() < 0.3:
            idx = v - 1 if names is CRON_MONTHS else v % 7
            return names[idx].lower() if rng.random() < 0.2 else names[idx]
        return str(v)

    r = rng.random()
    if r < star:
        return "*"
    if r < star + 0.12:
        return f"*/{rng.randint(1, max(1, (hi - lo) // 2))}"
    if r < star + 0.4:
        return val()
    if r < star + 0.55:
        return ",".join(sorted({str(rng.randint(lo, hi)) for _ in range(rng.randint(2, 4))}, key=int))
    a = rng.randint(lo, hi)
    b = rng.randint(a, hi)
    if names and rng.random() < 0.3:
        if names is CRON_MONTHS:
            rng_s = f"{names[a - 1]}-{names[b - 1]}"
        else:
            a, b = a % 7, max(a % 7, b % 7)
            rng_s = f"{names[a]}-{names[b]}"
    else:
        rng_s = f"{a}-{b}"
    return rng_s + (f"/{rng.randint(1, 4)}" if rng.random() < 0.3 else "")


def random_cron(rng: random.Random) -> str:
    if rng.random() < 0.06:
        return rng.choice(["@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"])
    minute = cron_field(rng, 0, 59, [0, 15, 30, 45, 59], star=0.25)
    hour = cron_field(rng, 0, 23, [0, 1, 2, 3], star=0.3)
    dom = cron_field(rng, 1, 31, [1, 15, 28, 29, 30, 31], star=0.6)
    month = cron_field(rng, 1, 12, [2, 3, 10, 11], CRON_MONTHS, star=0.7)
    dow = cron_field(rng, 0, 7, [0, 1, 5, 6, 7], CRON_DAYS, star=0.65)
    return " ".join([minute, hour, dom, month, dow])


MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


def run_cronsim(expr: str, zone: str, base: int) -> dict:
    from cronsim import CronSim, CronSimError

    body = MACROS.get(expr.lower(), expr)
    try:
        it = CronSim(body, datetime.fromtimestamp(base, ZoneInfo(zone)))
    except CronSimError:
        return {"error": True}
    times = []
    try:
        for _ in range(ITERATIONS):
            times.append(int(next(it).timestamp()))
    except StopIteration:
        pass
    return {"next": times}


# ---------------------------------------------------------------------------------------------


def make_cases(rng: random.Random, count: int, kind: str) -> list[dict]:
    cases = []
    for _ in range(count):
        zone = rng.choice(ZONES)
        base = random_base(rng, zone)
        if kind == "calendar":
            expr = random_calendar(rng)
            via_env = rng.random() < 0.3
            cases.append({"expr": expr, "zone": zone, "zoneInExpression": not via_env, "base": base})
        else:
            cases.append({"expr": random_cron(rng), "zone": zone, "base": base})
    return cases


def evaluate(cases: list[dict], kind: str) -> list[dict]:
    def one(case: dict) -> dict:
        if kind == "calendar":
            out = run_systemd(case["expr"], case["zone"], not case["zoneInExpression"], case["base"])
        else:
            out = run_cronsim(case["expr"], case["zone"], case["base"])
        return {**case, **out}

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(one, cases))


def generate(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    VECTOR_DIR.mkdir(parents=True, exist_ok=True)
    for kind, count in (("calendar", args.calendar), ("cron", args.cron)):
        started = time.time()
        rows = evaluate(make_cases(rng, count, kind), kind)
        meta = {
            "kind": kind, "seed": args.seed, "iterations": ITERATIONS,
            "oracle": subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True)
            .stdout.splitlines()[0] if kind == "calendar" else "cronsim " + __import__("importlib.metadata").metadata.version("cronsim"),
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        path = VECTOR_DIR / f"{kind}.json"
        with path.open("w") as f:
            f.write('{"meta": ' + json.dumps(meta) + ', "cases": [\n')
            f.write(",\n".join(json.dumps(r, separators=(",", ":")) for r in rows))
            f.write("\n]}\n")
        errors = sum(1 for r in rows if r.get("error"))
        print(f"{path}: {len(rows)} cases ({errors} invalid) in {time.time() - started:.1f}s")
    return 0


def confirmed_fire_by_fire(row: dict, got: list[str]) -> bool:
    """True when every fire systemd listed is among ours and each of ours is systemd's own next
    elapse from one second before it: the lists differ only where systemd's chained iterations
    skipped a fire."""
    want = [datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") for t in row["next"]]
    if len(got) != ITERATIONS or not set(want[:ITERATIONS - 1]) <= set(got) or got == want:
        return False
    # As run_systemd asks it: the zone in the expression, or in TZ.
    full = f'{row["expr"]} {row["zone"]}' if row["zoneInExpression"] else row["expr"]
    env = dict(os.environ, TZ=("UTC" if row["zoneInExpression"] else row["zone"]), LC_ALL="C")
    for fire in got:
        t = int(datetime.strptime(fire, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())
        out = subprocess.run(["systemd-analyze", "calendar", f"--base-time=@{t - 1}", "--iterations=1", full],
                             capture_output=True, text=True, env=env).stdout
        # "Next elapse: Tue 2028-02-29 23:00:01 UTC", or "(in UTC): …" when TZ is not UTC.
        lines = [l for l in out.splitlines() if "(in UTC):" in l] or [l for l in out.splitlines() if "Next elapse:" in l]
        words = lines[0].split() if lines else []
        if len(words) < 3 or words[-1] != "UTC" or f"{words[-3]}T{words[-2]}Z" != fire:
            return False
    return True


def check(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    failures = 0
    total = 0
    gave_up = 0
    chained_skips = 0
    for kind, count in (("calendar", args.calendar), ("cron", args.cron)):
        rows = evaluate(make_cases(rng, count, kind), kind)

        def ours(row: dict) -> tuple[dict, subprocess.CompletedProcess]:
            expr = row["expr"] if kind == "cron" or not row["zoneInExpression"] else f'{row["expr"]} {row["zone"]}'
            base = datetime.fromtimestamp(row["base"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            proc = subprocess.run([args.binary, "next", expr, "--timezone", row["zone"], "--from", base,
                                   "--count", str(ITERATIONS)], capture_output=True, text=True)
            return row, proc

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            results = list(pool.map(ours, rows))
        for row, proc in results:
            total += 1
            if row.get("computeError"):
                want = [datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") for t in row["next"]]
                got = proc.stdout.split()
                ok = proc.returncode == 0 and len(got) == ITERATIONS and got[:len(want)] == want
                gave_up += 1
            elif row.get("error"):
                ok = proc.returncode == 2
                got = f"exit {proc.returncode}"
            else:
                want = [datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") for t in row["next"]]
                got = proc.stdout.split()
                ok = proc.returncode == 0 and got == want
            if not ok and kind == "calendar" and not row.get("error") and proc.returncode == 0 \
                    and confirmed_fire_by_fire(row, proc.stdout.split()):
                # systemd's chained iteration skipped a fire that its own next() confirms (its
                # search is not monotonic across a jump: from 02:44:52 in Pacific/Chatham it skips
                # the 03:45:01 it gives from 03:45:00). An exact emulation never needs this.
                ok = True
                chained_skips += 1
            if not ok:
                failures += 1
                if failures <= 20:
                    print(f"MISMATCH {kind} {row!r}\n  ours: {got} {proc.stderr.strip()}", file=sys.stderr)
    print(f"oracle check: seed {seed}, fresh cases vs systemd-analyze and cronsim"
          f" ({gave_up} where systemd's search gave up; there we only require fire times;"
          f" {chained_skips} where systemd's chained iterations skipped a fire it confirms one by one)")
    print(f"oracle: {total - failures} passed, {failures} failed")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--seed", type=int, default=20261125)
    g.add_argument("--calendar", type=int, default=3000)
    g.add_argument("--cron", type=int, default=3000)
    c = sub.add_parser("check")
    c.add_argument("--seed", type=int)
    c.add_argument("--calendar", type=int, default=300)
    c.add_argument("--cron", type=int, default=300)
    c.add_argument("--binary", default=".build/debug/flipsyncctl")
    args = parser.parse_args()
    return generate(args) if args.command == "generate" else check(args)


if __name__ == "__main__":
    sys.exit(main())
