#!/usr/bin/env python3
"""Drives the reference Python SINETStream 1.10 message codec for the Rust interop tests.

Reads one JSON document from stdin (until EOF): {"requests": [REQUEST, ...]} and writes
{"responses": [RESPONSE, ...]} to stdout, in order.

REQUEST is one of
  {"op": "encode", "params": PARAMS, "messages": [{"payload_hex": H, "timestamp_us": N}, ...]}
      -> {"wires_hex": [H, ...]}      (one writer, so one salt, for all messages)
  {"op": "decode", "params": PARAMS, "wires_hex": [H, ...]}
      -> {"messages": [{"payload_hex": H, "timestamp_us": N}, ...]}
and a failed request answers {"error": "ExceptionType: message"}.

PARAMS are SINETStream reader/writer parameters as JSON, where {"$bytes": "<hex>"} stands for
a bytes value (crypto.key, crypto._keys values) and the keys of crypto._keys are decimal strings.
The public codec API is used: sinetstream.SINETStreamMessageEncoder / ...Decoder.
"""

import json
import math
import sys

from sinetstream import SINETStreamMessageDecoder, SINETStreamMessageEncoder


def to_python(v):
    if isinstance(v, dict):
        if set(v.keys()) == {"$bytes"}:
            return bytes.fromhex(v["$bytes"])
        return {k: to_python(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_python(x) for x in v]
    return v


def params_of(req):
    params = to_python(req.get("params", {}))
    crypto = params.get("crypto")
    if isinstance(crypto, dict) and isinstance(crypto.get("_keys"), dict):
        crypto["_keys"] = {int(k): v for k, v in crypto["_keys"].items()}
    return params


def seconds_for(timestamp_us):
    """A float t with int(t * 1000000) == timestamp_us, as MessageWriter.publish computes."""
    t = timestamp_us / 1000000
    while int(t * 1000000) < timestamp_us:
        t = math.nextafter(t, math.inf)
    while int(t * 1000000) > timestamp_us:
        t = math.nextafter(t, -math.inf)
    assert int(t * 1000000) == timestamp_us
    return t


def encode(req):
    wires = []
    with SINETStreamMessageEncoder(**params_of(req)) as enc:
        for m in req["messages"]:
            payload = bytes.fromhex(m["payload_hex"])
            wires.append(enc.encode(payload, timestamp=seconds_for(m["timestamp_us"])).hex())
    return {"wires_hex": wires}


def decode(req):
    messages = []
    with SINETStreamMessageDecoder(**params_of(req)) as dec:
        for w in req["wires_hex"]:
            wire = bytes.fromhex(w)
            if wire:
                msg = dec.decode(wire)
            else:
                # The iostream backend reads an empty buffer as end of stream; hand the empty
                # message to the reader directly (MessageReader's injection hook).
                dec._rd.debug_inject_msg_bytes = (wire, None, wire)
                msg = next(dec._rd)
            messages.append({"payload_hex": msg.value.hex(), "timestamp_us": msg.timestamp_us})
    return {"messages": messages}


def main():
    doc = json.loads(sys.stdin.read())
    responses = []
    for req in doc["requests"]:
        try:
            op = {"encode": encode, "decode": decode}[req["op"]]
            responses.append(op(req))
        except Exception as e:  # reported to the Rust side, which decides
            responses.append({"error": f"{type(e).__name__}: {e}"})
    json.dump({"responses": responses}, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
