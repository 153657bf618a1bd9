"""The safetensors file format, read and written with NumPy alone (no torch, no extra package).

The format (https://github.com/huggingface/safetensors) is tiny and safe by design: 8 bytes (little-endian
u64) giving the length N of a JSON header, N bytes of header {name: {"dtype", "shape", "data_offsets":
[begin, end]}, optionally "__metadata__": {str: str}}, then the raw little-endian, row-major tensor bytes.
Nothing is executed on reading, unlike a pickled `.pth`.
"""

from __future__ import annotations

import json
import math
import pathlib
import struct

import ml_dtypes
import numpy as np

from jaxcnn import errors

DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype(ml_dtypes.bfloat16),
          "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
          "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
          "BOOL": np.dtype("?")}
_NAMES = {dtype: name for name, dtype in DTYPES.items()}
MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit


class WeightsFileError(errors.UserError, ValueError):
    """A weights file is unreadable, damaged, not the published one, or holds other weights than asked for."""


def read_safetensors(path) -> dict[str, np.ndarray]:
    """{name: array} of a .safetensors file; a damaged or foreign file is a one-line WeightsFileError."""
    path = pathlib.Path(path)
    data = path.read_bytes()
    header, start = _header(path, data)
    tensors, end = {}, 0
    for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        begin, stop = entry["data_offsets"]
        dtype = DTYPES.get(entry["dtype"])
        if dtype is None:
            raise WeightsFileError(f"{path}: tensor {name!r} has dtype {entry['dtype']}, which jaxcnn does not read")
        if begin != end or stop - begin != math.prod(entry["shape"]) * dtype.itemsize or start + stop > len(data):
            raise WeightsFileError(f"{path}: tensor {name!r} has inconsistent offsets; the file is damaged or "
                                   "truncated")
        shape = tuple(entry["shape"])
        tensors[name] = np.frombuffer(data, dtype, math.prod(shape), start + begin).reshape(shape)
        end = stop
    if start + end != len(data):
        raise WeightsFileError(f"{path}: {len(data) - start - end} bytes after the last tensor; the file is damaged")
    return tensors


def _header(path: pathlib.Path, data: bytes) -> tuple[dict, int]:
    """(the tensor entries of the JSON header, where the tensor bytes start)."""
    if len(data) < 8:
        raise WeightsFileError(f"{path}: {len(data)} bytes is too short for a .safetensors file")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(MAX_HEADER_BYTES, len(data) - 8):
        raise WeightsFileError(f"{path}: not a .safetensors file (its header would be {size} bytes)")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
        header.pop("__metadata__", None)
        for entry in header.values():
            entry["shape"] = [int(n) for n in entry["shape"]]
            entry["data_offsets"] = [int(n) for n in entry["data_offsets"]]
    except (UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise WeightsFileError(f"{path}: not a .safetensors file (unreadable header: {err})") from None
    return header, 8 + size


def write_safetensors(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write `tensors` as a .safetensors file readable by the `safetensors` package and by `read_safetensors`."""
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        array = np.asarray(array)  # (not ascontiguousarray: it turns a scalar into shape (1,))
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        if dtype not in _NAMES:
            raise WeightsFileError(f"tensor {name!r} has dtype {array.dtype}, which safetensors cannot store")
        blob = array.astype(dtype, copy=False).tobytes(order="C")
        header[name] = {"dtype": _NAMES[dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the tensor bytes start 8-byte aligned, as the reference writer does
    with open(path, "xb") as file:  # never overwrites
        file.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            file.write(blob)
