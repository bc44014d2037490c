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
