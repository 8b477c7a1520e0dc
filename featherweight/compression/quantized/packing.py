"""Bit packing for sub-8-bit weights, numpy only (the exporters and the C code read the same layout).

A matrix of b-bit codes (b in 1, 2, 4, 8) is stored flat, in row-major order, 8 // b codes a byte, the
first code in the lowest bits, padded with zero codes to a whole byte at the end (`pack_flat`; code i of
the matrix is bits (i % (8 // b)) * b of byte i // (8 // b)). Signed codes are b-bit two's complement,
so code 0 is the value 0 and a pruned weight stays a zero code.
"""
from __future__ import annotations

import numpy as np

PACKED_SUFFIX = "_packed"  # a stored uint8 tensor named <name>_packed<b> holds b-bit codes


def packed_name(name: str, bits: int) -> str:
    return f"{name}{PACKED_SUFFIX}{bits}"


def packed_bits(name: str) -> int | None:
    """b for a tensor named <name>_packed<b>, else None."""
    head, sep, tail = name.rpartition(PACKED_SUFFIX)
    return int(tail) if sep and head and tail.isdigit() and int(tail) in (1, 2, 4, 8) else None


def packed_width(cols: int, bits: int) -> int:
    """Bytes a packed row of `cols` b-bit codes takes."""
    per_byte = 8 // bits
    return -(-cols // per_byte)


def pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """(rows, cols) integer codes -> (rows, packed_width) uint8; negative codes are stored as two's complement."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or bits not in (1, 2, 4, 8):
        raise ValueError(f"pack expects a 2-D code matrix and bits in (1, 2, 4, 8), got {codes.shape} and {bits}.")
    low, high = (-(1 << (bits - 1)), (1 << bits) - 1)
    if codes.size and (codes.min() < low or codes.max() > high):
        raise ValueError(f"Codes in [{codes.min()}, {codes.max()}] do not fit {bits} bits.")
    per_byte, mask = 8 // bits, (1 << bits) - 1
    rows, cols = codes.shape
    unsigned = (codes.astype(np.int64) & mask).astype(np.uint8)
    unsigned = np.pad(unsigned, ((0, 0), (0, packed_width(cols, bits) * per_byte - cols)))
    unsigned = unsigned.reshape(rows, -1, per_byte)
    out = np.zeros(unsigned.shape[:2], dtype=np.uint8)
    for k in range(per_byte):
        out |= unsigned[..., k] << np.uint8(k * bits)
    return out


def unpack(packed: np.ndarray, bits: int, cols: int, signed: bool = True) -> np.ndarray:
    """The codes of `pack`: (rows, cols) int8 when signed (two's complement), else uint8."""
    packed = np.asarray(packed, dtype=np.uint8)
    per_byte, mask = 8 // bits, (1 << bits) - 1
    shifts = (np.arange(per_byte) * bits).astype(np.uint8)
    codes = ((packed[..., None] >> shifts) & np.uint8(mask)).reshape(packed.shape[0], -1)[:, :cols]
    if not signed:
        return codes.astype(np.uint8)
    codes = codes.astype(np.int16)
    return np.where(codes >= 1 << (bits - 1), codes - (1 << bits), codes).astype(np.int8)


def pack_flat(codes: np.ndarray, bits: int) -> np.ndarray:
    """Any array of codes -> 1-D uint8, in row-major order (see the module docstring)."""
    return pack(np.asarray(codes).reshape(1, -1), bits)[0]


def unpack_flat(packed: np.ndarray, bits: int, shape: tuple, signed: bool = True) -> np.ndarray:
    """The codes of `pack_flat`, reshaped to `shape`."""
    count = int(np.prod(shape))
    return unpack(np.asarray(packed).reshape(1, -1), bits, count, signed)[0].reshape(shape)
