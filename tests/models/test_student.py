"""The distilled student encoder (``sqmy base-encoder --student``), on a tiny random BERT built on the fly."""

from __future__ import annotations

import json

import numpy as np

from sqmy.models.bert import BertEngine
from sqmy.models.bert_student import StudentArguments, distil
from sqmy.training.data import to_training


def test_the_student_keeps_fewer_layers_learns_the_teacher_and_resumes(tiny_base, items, tmp_path):
    texts = [f"{i.title}。{i.text}" for i in items]
    args = StudentArguments(layers=(1,), max_length=32, teacher_length=64, epochs=6, batch_size=8, lr=3e-3,
                            checkpoint_every=5)
    logged: list[str] = []
    info = distil(tiny_base, texts, tmp_path / "student", args=args, checkpoint_dir=tmp_path / "ck",
                  log=logged.append)
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1 and info["steps"] == round(6 * len(texts) / 8)
    losses = [float(m.split("loss ")[1].split()[0]) for m in logged if m.startswith("student: step")]
    assert losses[-1] < losses[0]  # it moves towards the teacher's pooled embeddings
    # a rerun (a killed job started again) finds the finished checkpoint and the teacher's embeddings
    again: list[str] = []
    distil(tiny_base, texts, tmp_path / "student2", args=args, checkpoint_dir=tmp_path / "ck", log=again.append)
    assert any("resuming at step" in m for m in again) and not any(m.startswith("student: step") for m in again)
    # the student is a base encoder like any other: the probe trains and predicts on top of it
    engine = BertEngine(base=str(tmp_path / "student"), epochs=0, prefix="", max_length=32,
                        validation_fraction=0.0).fit(*to_training(items))
    assert len(engine.encoder_.encoder.layer) == 1
    probs = engine.predict_proba([i.doc for i in items[:4]])
    np.testing.assert_allclose(probs.topic_l1.sum(1), 1, atol=1e-5)


def test_each_epoch_reads_every_text_once_and_short_texts_share_batches_with_short_ones():
    """Short requests mixed with full messages: a batch is padded to its longest text, so the student's batches
    group texts of about the same length (no CPU spent on padding a one-line request to 128 tokens)."""
    from sqmy.models.bert_student import _batches_of

    lengths = [8 if n % 2 else 120 for n in range(256)]
    batches = _batches_of(lengths, StudentArguments(epochs=2, batch_size=16))
    assert len(batches) == 32
    for epoch in (batches[:16], batches[16:]):
        assert sorted(i for b in epoch for i in b) == list(range(256))
    assert sum(len({lengths[i] for i in b}) > 1 for b in batches) == 0


def test_a_student_continues_from_a_saved_student(tiny_base, items, tmp_path):
    """``--init``: a second distillation (say on short requests as well) starts from the saved student's weights,
    not again from the teacher's layers."""
    import torch
    from transformers import AutoModel

    from sqmy.models.bert_student import student_from

    texts = [f"{i.title}。{i.text}" for i in items]
    args = StudentArguments(layers=(1,), max_length=32, teacher_length=64, epochs=2, batch_size=8, lr=3e-3)
    distil(tiny_base, texts, tmp_path / "s1", args=args, checkpoint_dir=tmp_path / "ck", log=lambda _m: None)
    saved = AutoModel.from_pretrained(tmp_path / "s1").state_dict()
    continued, _ = student_from(tiny_base, (1,), str(tmp_path / "s1"))
    fresh, _ = student_from(tiny_base, (1,))
    assert all(torch.equal(saved[k], v) for k, v in continued.state_dict().items())
    assert not all(torch.equal(saved[k], v) for k, v in fresh.state_dict().items())
    again = StudentArguments(**{**args.__dict__, "init": str(tmp_path / "s1"), "epochs": 1})
    info = distil(tiny_base, [*texts, "路灯坏了", "讨薪"], tmp_path / "s2", args=again,
                  checkpoint_dir=tmp_path / "ck", log=lambda _m: None)
    assert info["init"] == str(tmp_path / "s1")
    assert json.loads((tmp_path / "s2" / "config.json").read_text())["num_hidden_layers"] == 1
