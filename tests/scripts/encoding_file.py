"""Writes small `modelgrow text encode --out` files for the script tests: embedding, mask and,
when given, the prompts in the metadata (as the host stores them)."""
import json
import struct


def write_encoding(path, states, length, prompts=None):
    """states[i]: the state vectors of prompt i, padded to `length` with zeros (mask false)."""
    dim = len(states[0][0])
    values, mask = [], []
    for s in states:
        for t in range(length):
            values += s[t] if t < len(s) else [0.0] * dim
            mask.append(1 if t < len(s) else 0)
    a = struct.pack("<%df" % len(values), *values)
    b = bytes(mask)
    header = {"embedding": {"dtype": "F32", "shape": [len(states), length, dim],
                            "data_offsets": [0, len(a)]},
              "mask": {"dtype": "BOOL", "shape": [len(states), length],
                       "data_offsets": [len(a), len(a) + len(b)]}}
    if prompts is not None:
        header["__metadata__"] = {"prompts": json.dumps(prompts)}
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + a + b)
