#!/usr/bin/env python3
"""Python SINETStream 1.10 as an MQTT peer for the Rust interop tests.

Reads one JSON request from stdin:
  {"mode": "write", "config_file": F, "service": S, "topic": T, "messages_hex": [H, ...]}
      publishes each message, then prints {"ok": true}
  {"mode": "read", "config_file": F, "service": S, "topic": T, "count": N, "timeout_ms": MS}
      subscribes, prints the line READY, then prints one JSON line per message
      {"payload_hex": H, "timestamp_us": N, "topic": T} until N messages or the timeout,
      then {"done": K}
Errors are printed as {"error": "Type: message"} and exit 1.
"""

import json
import sys
import time

from sinetstream import MessageReader, MessageWriter


def main():
    req = json.load(sys.stdin)
    cf = req["config_file"]
    if req["mode"] == "write":
        with MessageWriter(req["service"], req["topic"], config_file=cf) as w:
            for h in req["messages_hex"]:
                w.publish(bytes.fromhex(h))
        print(json.dumps({"ok": True}), flush=True)
        return
    reader = MessageReader(req["service"], req["topic"], config_file=cf,
                           receive_timeout_ms=req["timeout_ms"])
    n = 0
    with reader as f:
        # paho subscribes from its on_connect callback without waiting for the SUBACK.
        time.sleep(1.0)
        print("READY", flush=True)
        for msg in f:
            print(json.dumps({"payload_hex": msg.value.hex(), "timestamp_us": msg.timestamp_us,
                              "topic": msg.topic}), flush=True)
            n += 1
            if n >= req["count"]:
                break
    print(json.dumps({"done": n}), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # reported to the Rust side, which fails the test
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(1)
