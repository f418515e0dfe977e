#!/usr/bin/env python3
"""Turns scripts/bench's raw results (JSON lines) into the markdown report.

Usage: bench-report.py RESULTS.jsonl > report.md

Three kinds of lines:
  measurement  {"bench", "case", "client", "role": "ours"|"reference", "metric", "value",
                "unit", "better": "higher"|"lower"}   (from the benches' BENCH_JSON and the script)
  meta         {"kind": "meta", "key", "value"}        (the report's header, in order)
  status       {"kind": "status", "bench", "status", "note"}  (a part that failed or was not run)

Each (bench, case, metric) group gives one row per pair of an ours and a reference client:
ratio = ours / reference when larger is better, reference / ours when smaller is better, so
that > 1 always means sinetstream-rs is better. A group with figures of ours only, in a bench
with a status, gets a row with that status in place of the reference.
"""

import json
import math
import sys

AREAS = [
    ("mqtt", "MQTT client vs rumqttc", "benches/mqtt.rs, mosquitto, same process"),
    ("kafka", "Kafka producer vs librdkafka and the Java client",
     "benches/kafka.rs, best of the rounds"),
    ("kafka_consumer", "Kafka consumer and end-to-end latency vs librdkafka and the Java client",
     "benches/kafka_consumer.rs, best of the rounds"),
    ("cli_mqtt", "CLI vs Python sinetstream_cli 1.10, MQTT",
     "whole processes timed by scripts/bench, start-up included unless the measure says so"),
    ("cli_kafka", "CLI vs Python sinetstream_cli 1.10, Kafka",
     "whole processes timed by scripts/bench, start-up included unless the measure says so"),
    ("bench_mqtt", "`sinetstream bench` vs the same workload on Python SINETStream 1.10, MQTT",
     "1 writer + 1 reader in one process, as fast as possible, then paced for the latency; "
     "Python: tests/python/bench_peer.py, whose synchronous writer waits for each "
     "acknowledgement"),
    ("bench_kafka", "`sinetstream bench` vs the same workload on Python SINETStream 1.10, Kafka",
     "1 writer + 1 reader in one process, as fast as possible, then paced for the latency; "
     "Python: tests/python/bench_peer.py, whose synchronous writer waits for each "
     "acknowledgement"),
]


def fmt(v):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def ratio(ours, ref, better):
    if ours is None or ref is None or ours <= 0 or ref <= 0:
        return None
    return ours / ref if better == "higher" else ref / ours


def cell(s):
    return str(s).replace("|", "\\|")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    meta = []
    status = {}
    groups = {}  # (bench, case, metric) -> {"unit", "better", "ours": {client: v}, "ref": ...}
    order = []
    with open(sys.argv[1], encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"bench-report.py: line {n}: {e}", file=sys.stderr)
                continue
            kind = r.get("kind")
            if kind == "meta":
                meta.append((r["key"], r["value"]))
            elif kind == "status":
                status.setdefault(r["bench"], []).append((r["status"], r.get("note", "")))
            else:
                key = (r["bench"], r["case"], r["metric"])
                if key not in groups:
                    groups[key] = {"unit": r["unit"], "better": r["better"],
                                   "ours": {}, "ref": {}}
                    order.append(key)
                side = "ours" if r["role"] == "ours" else "ref"
                groups[key][side][r["client"]] = r["value"]

    out = ["# sinetstream-rs benchmarks: ours vs the reference clients", ""]
    for k, v in meta:
        out.append(f"- **{k}**: {v}")
    out += ["",
            "Ratio: ours / reference for throughput, reference / ours for latency, CPU time "
            "and memory, so **> 1 means sinetstream-rs is better** in every row. "
            "Raw figures: results.jsonl beside this file; each bench's full output: logs/.",
            ""]

    known = [a[0] for a in AREAS]
    benches_seen = []
    for key in order:
        if key[0] not in benches_seen:
            benches_seen.append(key[0])
    areas = list(AREAS) + [(b, b, "") for b in benches_seen + list(status) if b not in known]
    seen_extra = set()
    tables = []
    summary = []
    for bench, title, note in areas:
        if bench in seen_extra:
            continue
        seen_extra.add(bench)
        rows = []
        ratios = []
        keys = [k for k in order if k[0] == bench]
        # With one client a side in the whole area, the clients are named once, above the table.
        ours_all = {c for k in keys for c in groups[k]["ours"]}
        ref_all = {c for k in keys for c in groups[k]["ref"]}
        named_once = len(ours_all) <= 1 and len(ref_all) <= 1
        for key in keys:
            g = groups[key]
            _, case, metric = key
            measure = f"{case} · {metric} ({g['unit']})"

            def label(oc, rc):
                if named_once:
                    return measure
                return f"{measure}: {oc} vs {rc}" if oc and rc else f"{measure}: {oc or rc}"

            if g["ref"] and g["ours"]:
                for oc, ov in g["ours"].items():
                    for rc, rv in g["ref"].items():
                        x = ratio(ov, rv, g["better"])
                        if x is not None:
                            ratios.append(x)
                        rows.append((label(oc, rc), fmt(ov), fmt(rv),
                                     "n/a" if x is None else f"{x:.2f}x"))
            elif g["ours"] and bench in status:
                why = "; ".join(s for s, _ in status[bench])
                for oc, ov in g["ours"].items():
                    rows.append((label(oc, None), fmt(ov), why, "–"))
            elif g["ref"] and bench in status:
                why = "; ".join(s for s, _ in status[bench])
                for rc, rv in g["ref"].items():
                    rows.append((label(None, rc), why, fmt(rv), "–"))
        if not rows and bench not in status:
            continue
        t = [f"## {title}", ""]
        if note:
            t += [f"_{note}_", ""]
        if named_once and (ours_all or ref_all):
            t += ["Ours: " + (", ".join(sorted(ours_all)) or "–") + "; reference: "
                  + (", ".join(sorted(ref_all)) or "–") + ".", ""]
        for s, n in status.get(bench, []):
            t.append(f"- **{s}**" + (f": {n}" if n else ""))
        if status.get(bench):
            t.append("")
        if rows:
            t += ["| measure | ours | reference | ratio (>1 = ours better) |",
                  "|---|---:|---:|---:|"]
            t += [f"| {cell(m)} | {cell(o)} | {cell(r)} | {x} |" for m, o, r, x in rows]
            t.append("")
        tables.append("\n".join(t))
        if ratios:
            gm = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
            summary.append((title, len(ratios), gm, min(ratios), max(ratios)))
        else:
            summary.append((title, 0, None, None, None))

    out += ["## Summary", "",
            "| area | ratios | geometric mean | min | max |", "|---|---:|---:|---:|---:|"]
    for title, n, gm, lo, hi in summary:
        if n:
            out.append(f"| {cell(title)} | {n} | {gm:.2f}x | {lo:.2f}x | {hi:.2f}x |")
        else:
            out.append(f"| {cell(title)} | 0 | – | – | – |")
    out.append("")
    out += tables
    print("\n".join(out).rstrip() + "\n", end="")


if __name__ == "__main__":
    main()
