"""Seeded, portable 32-bit token hashes: hash embeddings, the torch-free predictor (C twins: embeddings/hash_reference.c).

Python's built-in hash() is salted per process and must never be used here.
"""
import hashlib
import struct

MASK32 = 0xFFFFFFFF
HASH_FUNCTIONS = ("murmur3_32", "fnv1a_32", "md5")


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & MASK32


def _mix_block(k: int) -> int:
    k = (k * 0xCC9E2D51) & MASK32
    k = _rotl32(k, 15)
    return (k * 0x1B873593) & MASK32


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86_32 of `data` (little-endian blocks), as in Austin Appleby's reference."""
    h = seed & MASK32
    nblocks = len(data) // 4
    for block in struct.unpack_from(f"<{nblocks}I", data):
        h ^= _mix_block(block)
        h = (_rotl32(h, 13) * 5 + 0xE6546B64) & MASK32
    tail = data[nblocks * 4:]
    if tail:
        h ^= _mix_block(int.from_bytes(tail, "little"))
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK32
    return h ^ (h >> 16)


def fnv1a_32(data: bytes, seed: int = 0) -> int:
    """FNV-1a 32-bit; the seed is XORed into the offset basis (seed 0 = standard FNV-1a)."""
    h = 0x811C9DC5 ^ (seed & MASK32)
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & MASK32
    return h


def token_hash(token: str, index: int, function: str, seed: int) -> int:
    """Hash function number `index` applied to `token` (UTF-8).

    murmur3_32 / fnv1a_32 use seed `(seed + index) mod 2**32`. md5 follows the thesis:
    MD5 of the decimal string of `seed + index` prefixed to the token, read as a
    128-bit big-endian integer.
    """
    data = token.encode("utf-8")
    if function == "murmur3_32":
        return murmur3_32(data, (seed + index) & MASK32)
    if function == "fnv1a_32":
        return fnv1a_32(data, (seed + index) & MASK32)
    if function == "md5":
        digest = hashlib.md5(str(seed + index).encode("ascii") + data).digest()
        return int.from_bytes(digest, "big")
    raise ValueError(f"Unknown hash function {function!r}; expected one of {HASH_FUNCTIONS}.")
