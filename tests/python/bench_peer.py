#!/usr/bin/env python3
"""The workload of `sinetstream bench --writers 1 --readers 1` through the Python SINETStream
library (the reference for scripts/bench): one MessageReader (opened first, in a thread) and
one MessageWriter (the synchronous API, as Python's sinetstream_cli uses) on one service and
topic, COUNT messages of SIZE bytes, the send time (µs since the epoch, little-endian) in the
first 8 bytes.

Usage: bench_peer.py --count N --size BYTES [--rate MSGS_PER_S] [--consistency C]
                     [--timeout SECS] KEY=VALUE...
The KEY=VALUE parameters are those of the CLIs (YAML values, `.` nests maps); no config file is
read. Prints one JSON object shaped like `sinetstream bench --json`'s:
  {"writers": {"clients", "msgs", "elapsed_s", "msgs_per_s"},
   "readers": {"clients", "msgs", "lost", "elapsed_s", "msgs_per_s",
               "latency_ms": {p50, p90, p99, max}, "first_error"},
   "cpu": {"user_s", "system_s"}, "max_rss_bytes"}

Before the clock starts the writer sends warm-up messages (send time 0) until the reader has
seen one, so that the reader is subscribed (MQTT) or assigned (Kafka) when the run begins, as
`sinetstream bench`'s readers are once opened. The clock starts at the first timed publish;
the writer's time ends when it is closed (flushed), the reader's at the last message.
"""

import argparse
import importlib.metadata
import json
import math
import resource
import struct
import sys
import threading
import time

import yaml
from sinetstream import MessageReader, MessageWriter


def params(pairs):
    out = {}
    for p in pairs:
        key, sep, val = p.partition("=")
        if not sep:
            sys.exit(f"bench_peer.py: invalid parameter {p!r}: expected KEY=VALUE")
        d = out
        parts = key.split(".")
        for k in parts[:-1]:
            d = d.setdefault(k, {})
        d[parts[-1]] = yaml.safe_load(val)
    return out


def percentile(sorted_values, q):
    """Nearest rank, as `sinetstream bench`."""
    if not sorted_values:
        return None
    rank = math.ceil(q * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="messages per second (0 = as fast as possible)")
    ap.add_argument("--consistency", default=None)
    ap.add_argument("--timeout", type=float, default=5.0,
                    help="seconds the reader waits for missing messages")
    ap.add_argument("--warmup-timeout", type=float, default=60.0)
    ap.add_argument("parameters", nargs="*", metavar="KEY=VALUE")
    args = ap.parse_args()
    if args.size < 8:
        sys.exit("bench_peer.py: --size must be at least 8")

    kw = params(args.parameters)
    kw["no_config"] = True
    kw["value_type"] = "byte_array"
    if args.consistency:
        kw["consistency"] = args.consistency
    reader_kw = dict(kw, receive_timeout_ms=int(args.timeout * 1000))

    state = {"live": threading.Event(), "start": None, "received": 0, "last": None,
             "lat_us": [], "error": None}
    count = args.count

    def reader():
        try:
            with MessageReader(**reader_kw) as r:
                while True:
                    for msg in r:
                        now = time.time_ns() // 1000
                        sent = struct.unpack_from("<q", msg.value, 0)[0]
                        if sent == 0:
                            state["live"].set()
                            continue
                        state["received"] += 1
                        state["last"] = time.perf_counter()
                        state["lat_us"].append(now - sent)
                        if state["received"] >= count:
                            return
                    # The iterator ended: receive_timeout_ms passed without a message.
                    if state["start"] is not None:
                        return
        except Exception as e:  # reported in the JSON
            state["error"] = repr(e)
            state["live"].set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()

    with MessageWriter(**kw) as w:
        warm = bytes(args.size)
        deadline = time.monotonic() + args.warmup_timeout
        while not state["live"].wait(0.5):
            if time.monotonic() > deadline:
                sys.exit("bench_peer.py: the reader saw no warm-up message")
            w.publish(warm)
        if state["error"]:
            sys.exit(f"bench_peer.py: reader: {state['error']}")
        payload = bytearray((i % 251) for i in range(args.size))
        start = time.perf_counter()
        state["start"] = start
        period = 1.0 / args.rate if args.rate > 0 else None
        for i in range(count):
            if period is not None:
                # Paced as `sinetstream bench --rate`: message i is due at start + i * period.
                delay = start + i * period - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            struct.pack_into("<q", payload, 0, time.time_ns() // 1000)
            w.publish(bytes(payload))
    write_elapsed = time.perf_counter() - start
    t.join(args.timeout + write_elapsed + 60)

    received = state["received"]
    read_elapsed = (state["last"] - start) if state["last"] else 0.0
    lat = sorted(state["lat_us"])

    def ms(q):
        v = percentile(lat, q)
        return None if v is None else v / 1000.0

    ru = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "implementation": "python sinetstream " + importlib.metadata.version("sinetstream"),
        "size": args.size,
        "writers": {"clients": 1, "msgs": count, "elapsed_s": write_elapsed,
                  "msgs_per_s": count / write_elapsed if write_elapsed > 0 else 0.0},
        "readers": {"clients": 1, "msgs": received, "lost": max(count - received, 0),
                 "elapsed_s": read_elapsed,
                 "msgs_per_s": received / read_elapsed if read_elapsed > 0 else 0.0,
                 "latency_ms": None if not lat else
                 {"p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "max": ms(1.0)},
                 "first_error": state["error"]},
        "cpu": {"user_s": ru.ru_utime, "system_s": ru.ru_stime},
        # ru_maxrss is in KiB on Linux.
        "max_rss_bytes": ru.ru_maxrss * 1024,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
