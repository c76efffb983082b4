"""A smaller student of the base encoder: some of the teacher's layers, trained to reproduce the teacher's mean-pooled
embedding of each text (MSE + cosine) on unlabelled text, then saved as a Hugging Face checkpoint that any BERT
training uses as its base (``SQMY_BERT_BASE``), the linear probe on top as for the teacher.

The teacher's embeddings are computed once, through its int8 ONNX graph (what the served teacher computes), and
kept in chunks in the checkpoint directory; the student's weights and optimiser are saved every
``checkpoint_every`` steps, so that a killed run resumes where it stopped (same texts, same settings)."""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sqmy.models.bert_layers import load_encoder, mean_pool, padded_batches, torch_module

TEACHER_CHUNK = 512  # items per cached chunk of teacher embeddings
DEFAULT_LAYERS = (0, 2, 4, 7, 9, 11)  # DistilBERT's choice of 6 of 12 layers: spread out, the last one kept


@dataclass(frozen=True)
class StudentArguments:
    """How to distil: which teacher layers the student starts from, its token budget, the teacher's, and the
    optimisation (one epoch over the texts is usually enough to match pooled embeddings closely)."""

    layers: tuple[int, ...] = DEFAULT_LAYERS
    max_length: int = 128
    teacher_length: int = 256
    epochs: float = 2.0
    batch_size: int = 32
    lr: float = 1e-4
    warmup: float = 0.05
    cosine_weight: float = 1.0
    seed: int = 0
    checkpoint_every: int = 20
    init: str = ""  # a student to continue from (same layers); empty: the teacher's ``layers``


def checkpoint_key(*parts: Any, texts: Sequence[str] = ()) -> str:
    digest = hashlib.sha256(repr(parts).encode())
    for text in texts:
        digest.update(text.encode() + b"\0")
    return digest.hexdigest()[:16]


def teacher_embeddings(teacher: Path, texts: Sequence[str], *, max_length: int, cache: Path,
                       log: Callable[[str], None] = print) -> np.ndarray:
    """The teacher's mean-pooled int8 ONNX embedding of every text (chunks kept under ``cache``, named after their
    texts: a later run on more or fewer texts reuses every chunk it shares)."""
    torch = torch_module()
    from transformers import AutoModel, AutoTokenizer

    from sqmy.models.bert_onnx import OnnxRunner, export_pooled_onnx, pooled_embeddings

    tokenizer = AutoTokenizer.from_pretrained(teacher)
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    runner = None
    out: np.ndarray | None = None
    started = time.perf_counter()
    for start in range(0, len(ids), TEACHER_CHUNK):
        rows = list(range(start, min(start + TEACHER_CHUNK, len(ids))))
        file = cache / f"teacher-{checkpoint_key(str(teacher), max_length, texts=[texts[i] for i in rows])}.npy"
        if file.is_file():
            chunk = np.load(file)
        else:
            if runner is None:
                encoder = load_encoder(AutoModel, teacher).float().eval()
                runner = OnnxRunner(export_pooled_onnx(encoder, tokenizer, cache / "teacher-onnx"),
                                    threads=torch.get_num_threads())
            chunk = pooled_embeddings(runner, [ids[i] for i in rows], tokenizer.pad_token_id, batch_size=64,
                                      max_tokens=4096)
            np.save(cache / "tmp-teacher.npy", chunk)
            (cache / "tmp-teacher.npy").rename(file)
        out = np.zeros((len(ids), chunk.shape[1]), dtype=np.float32) if out is None else out
        out[rows] = chunk
        log(f"teacher: {rows[-1] + 1}/{len(ids)} embedded ({time.perf_counter() - started:.0f}s)")
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def student_from(teacher: Path, layers: Sequence[int], init: str = "") -> tuple[Any, Any]:
    """``(encoder, tokenizer)``: the teacher with only ``layers`` of its encoder layers, in that order (or the
    student saved at ``init``, to train it further)."""
    from transformers import AutoModel, AutoTokenizer

    torch = torch_module()
    if init:
        return load_encoder(AutoModel, Path(init)).float(), AutoTokenizer.from_pretrained(init)
    encoder = load_encoder(AutoModel, teacher).float()
    encoder.encoder.layer = torch.nn.ModuleList([encoder.encoder.layer[i] for i in layers])
    encoder.config.num_hidden_layers = len(layers)
    return encoder, AutoTokenizer.from_pretrained(teacher)


def cosine_schedule(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / max(warmup, 1)
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


BUCKET_BATCHES = 16  # a shuffled window of this many batches is sorted by length before it is cut


def _batches_of(lengths: Sequence[int], args: StudentArguments) -> list[list[int]]:
    """Every batch of every epoch, fixed by the seed (a resumed run takes the same ones): each epoch's shuffled
    order is cut into windows of ``BUCKET_BATCHES`` batches, each window sorted by length before it is cut into
    batches (so a short text is padded with other short texts), and the batches shuffled again."""
    rng = random.Random(args.seed)
    n = len(lengths)
    total = max(1, round(args.epochs * n / args.batch_size))
    window = args.batch_size * BUCKET_BATCHES
    batches: list[list[int]] = []
    while len(batches) < total:
        order = list(range(n))
        rng.shuffle(order)
        epoch: list[list[int]] = []
        for w in range(0, n, window):
            part = sorted(order[w:w + window], key=lambda i: lengths[i])
            epoch += [part[s:s + args.batch_size] for s in range(0, len(part), args.batch_size)]
        rng.shuffle(epoch)
        batches += epoch
    return batches[:total]


def distil(teacher: Path, texts: Sequence[str], out: Path, *, args: StudentArguments = StudentArguments(),
           checkpoint_dir: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the student on ``texts`` and save it (encoder and tokenizer) under ``out``; returns a summary."""
    torch = torch_module()
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    targets = torch.from_numpy(teacher_embeddings(teacher, texts, max_length=args.teacher_length,
                                                  cache=checkpoint_dir, log=log))
    settings = {k: v for k, v in asdict(args).items() if k != "checkpoint_every"}
    state = checkpoint_dir / f"student-{checkpoint_key(settings, str(teacher), texts=texts)}.pt"
    torch.manual_seed(args.seed)
    encoder, tokenizer = student_from(teacher, args.layers, args.init)
    ids = tokenizer(list(texts), truncation=True, max_length=args.max_length)["input_ids"]
    batches = _batches_of([len(x) for x in ids], args)
    optimiser = torch.optim.AdamW(encoder.parameters(), lr=args.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: cosine_schedule(s, len(batches), int(args.warmup * len(batches))))
    first, losses = resume_checkpoint(state, encoder, optimiser, scheduler, log)

    def loss_of(batch: list[int]) -> Any:
        rows = sorted(batch, key=lambda i: len(ids[i]))
        _, input_ids, mask = next(padded_batches([ids[i] for i in rows], range(len(rows)), len(rows),
                                                 tokenizer.pad_token_id))
        pooled = mean_pool(encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state, mask)
        target = targets[rows]
        return torch.nn.functional.mse_loss(pooled, target) + args.cosine_weight * (
            1 - torch.nn.functional.cosine_similarity(pooled, target).mean())

    run_steps("student", batches, first, loss_of, (encoder, optimiser, scheduler), losses, state,
              args.checkpoint_every, log)
    save_encoder(encoder, tokenizer, out)
    return {"teacher": str(teacher), "steps": len(batches), "texts": len(texts),
            "final_loss": round(float(np.mean(losses[-50:])), 5) if losses else None,
            **asdict(args)}


def run_steps(name: str, batches: Sequence[list[int]], first: int, loss_of: Callable[[list[int]], Any],
              trained: tuple[Any, Any, Any], losses: list[float], state: Path, checkpoint_every: int,
              log: Callable[[str], None]) -> None:
    """The optimisation loop of the student and of the matter encoder: one step per batch from ``first`` on
    (``loss_of(batch)``; gradients clipped at 1), the state of ``trained`` (encoder, optimiser, scheduler) saved
    and a line logged every ``checkpoint_every`` steps and after the last."""
    torch = torch_module()
    encoder, optimiser, scheduler = trained
    encoder.train()
    started = time.perf_counter()
    for step in range(first, len(batches)):
        loss = loss_of(batches[step])
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        optimiser.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        if (step + 1) % checkpoint_every == 0 or step + 1 == len(batches):
            save_checkpoint(state, encoder, optimiser, scheduler, step + 1, losses)
            log(f"{name}: step {step + 1}/{len(batches)}, loss {np.mean(losses[-checkpoint_every:]):.4f} "
                f"({time.perf_counter() - started:.0f}s)")
    encoder.eval()


def save_encoder(encoder: Any, tokenizer: Any, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(out)
    tokenizer.save_pretrained(out)


def save_checkpoint(path: Path, encoder: Any, optimiser: Any, scheduler: Any, step: int,
                     losses: list[float]) -> None:
    torch = torch_module()
    torch.save({"encoder": encoder.state_dict(), "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(), "step": step, "losses": losses}, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").rename(path)


def resume_checkpoint(path: Path, encoder: Any, optimiser: Any, scheduler: Any,
            log: Callable[[str], None]) -> tuple[int, list[float]]:
    """The step to start from (0 without a checkpoint) and the losses so far; restores the saved state."""
    if not path.is_file():
        return 0, []
    saved = torch_module().load(path, weights_only=False)
    encoder.load_state_dict(saved["encoder"])
    optimiser.load_state_dict(saved["optimiser"])
    scheduler.load_state_dict(saved["scheduler"])
    log(f"resuming at step {saved['step']} from the checkpoint")
    return int(saved["step"]), list(saved["losses"])
