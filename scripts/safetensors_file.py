"""Reading safetensors files without numpy or torch, for the tools under scripts/."""

import json
import struct
import sys
from array import array
from pathlib import Path


def read_safetensors(path):
    """(header, payload): the file's JSON header and the bytes after it. ValueError naming the
    file when it is too short or its header runs past its end."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes, too short for a safetensors header")
    (header_size,) = struct.unpack("<Q", data[:8])
    if 8 + header_size > len(data):
        raise ValueError(f"{path}: header of {header_size} bytes runs past the file's end")
    return json.loads(data[8 : 8 + header_size]), data[8 + header_size :]


def tensor_values(header, payload, name, code):
    """Tensor `name`'s values as an array of type `code` ("f", "B", ...), little-endian on disk."""
    begin, end = header[name]["data_offsets"]
    values = array(code)
    values.frombytes(payload[begin:end])
    if sys.byteorder != "little":
        values.byteswap()
    return values


def read_text_encoding(path):
    """(prompts, states, mask, (n, length, dim)) of a `modelgrow text encode --out` file: states
    ("embedding", F32 [N, L, D]) and mask (BOOL or U8 [N, L]) as flat arrays, prompts from its
    metadata (None when it has none). ValueError naming the file when a tensor is missing or not
    what the encoder writes."""
    header, payload = read_safetensors(path)
    for name, dtypes in (("embedding", ("F32",)), ("mask", ("BOOL", "U8"))):
        if name not in header:
            raise ValueError(
                f"{path}: no '{name}' tensor (write it with modelgrow text encode --out)")
        if header[name]["dtype"] not in dtypes:
            raise ValueError(
                f"{path}: {name} is {header[name]['dtype']}; expected one of {dtypes}")
    shape, mask_shape = header["embedding"]["shape"], header["mask"]["shape"]
    if len(shape) != 3 or mask_shape != shape[:2]:
        raise ValueError(
            f"{path}: embedding {shape} and mask {mask_shape}; expected [N, L, D], [N, L]")
    n, length, dim = shape
    states = tensor_values(header, payload, "embedding", "f")
    mask = tensor_values(header, payload, "mask", "B")
    if len(states) != n * length * dim or len(mask) != n * length:
        raise ValueError(f"{path}: {len(states)} state and {len(mask)} mask values; expected "
                         f"{n * length * dim} and {n * length}")
    try:
        prompts = json.loads(header.get("__metadata__", {}).get("prompts") or "null")
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: its metadata's prompts are not JSON ({e})") from None
    if prompts is not None and (not isinstance(prompts, list) or len(prompts) != n):
        raise ValueError(f"{path}: its metadata's prompts are not a list of {n}, one per encoding")
    return prompts, states, mask, (n, length, dim)
