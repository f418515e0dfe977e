#!/usr/bin/env python3
"""Python SINETStream 1.10 (sinetstream-kafka, kafka-python-ng) as a Kafka peer for the Rust
interop tests.

Reads one JSON request from stdin:
  {"mode": "write", "config_file": F, "service": S, "topic": T, "messages_hex": [H, ...]}
      publishes each message with MessageWriter, then prints {"ok": true}
  {"mode": "read", "config_file": F, "service": S, "topic": T, "count": N, "timeout_ms": MS}
      reads with MessageReader (the config should set auto_offset_reset: earliest) and prints
      {"messages": [{"payload_hex": H, "timestamp_us": N, "topic": T}, ...]} once N messages
      arrived or the timeout passed
  {"mode": "read_raw", "bootstrap": B, "topic": T, "count": N, "timeout_ms": MS}
      reads the records as they are on the broker with kafka-python's KafkaConsumer and prints
      {"records": [{"value_hex": H, "timestamp_ms": N, "offset": N}, ...]}
  {"mode": "versions"}
      prints the versions of the Python packages in use
Errors are printed as {"error": "Type: message"} (traceback on stderr) and exit 1.
"""

import json
import sys
from importlib.metadata import version


def write(req):
    from sinetstream import MessageWriter

    with MessageWriter(req["service"], req["topic"], config_file=req["config_file"]) as w:
        for h in req["messages_hex"]:
            w.publish(bytes.fromhex(h))
    return {"ok": True}


def read(req):
    from sinetstream import MessageReader

    reader = MessageReader(req["service"], req["topic"], config_file=req["config_file"],
                           receive_timeout_ms=req["timeout_ms"])
    out = []
    with reader as f:
        for msg in f:
            out.append({"payload_hex": msg.value.hex(), "timestamp_us": msg.timestamp_us,
                        "topic": msg.topic})
            if len(out) >= req["count"]:
                break
    return {"messages": out}


def read_raw(req):
    from kafka import KafkaConsumer

    c = KafkaConsumer(req["topic"], bootstrap_servers=req["bootstrap"],
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      consumer_timeout_ms=req["timeout_ms"])
    out = []
    try:
        for rec in c:
            out.append({"value_hex": rec.value.hex(), "timestamp_ms": rec.timestamp,
                        "offset": rec.offset})
            if len(out) >= req["count"]:
                break
    finally:
        c.close()
    return {"records": out}


def versions(_req):
    return {name: version(name) for name in
            ("sinetstream", "sinetstream-kafka", "kafka-python-ng")}


def main():
    req = json.load(sys.stdin)
    handler = {"write": write, "read": read, "read_raw": read_raw, "versions": versions}
    print(json.dumps(handler[req["mode"]](req)), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # reported to the Rust side, which fails the test
        import traceback
        traceback.print_exc()
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(1)
