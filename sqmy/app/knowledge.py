"""What the directory knows that the text may not carry: which unit usually leads which topic (its 权责清单,
``leads`` in ``departments.yaml``, level 2 or level 3), and which towns and streets exist (属地管理).

The router mixes the duty prior with the learned lead head, so that a well-recognised topic brings its usual lead
unit even when the words for the unit are absent, and a site that edits the directory changes routing without
retraining. When the lead is a town or street, the one the text names is chosen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sqmy.core.config import Settings
from sqmy.core.labels import Directory, load_label_space
from sqmy.models.base import Engine, HeadProbabilities


@dataclass(frozen=True)
class _DutyTables:
    """Row-normalised listing matrices over the engine's lead classes: level-2 path → units, level-3 leaf → units."""

    by_l2: np.ndarray  # (n_l2, n_units)
    by_l3: np.ndarray  # (n_leaves, n_units), leaves whose level 2 the engine knows
    l3_columns: np.ndarray  # (n_leaves,) their columns in topic_l3
    l3_parent: np.ndarray  # (n_leaves,) their level-2 rows
    l3_listed: np.ndarray  # (n_leaves,) 1.0 where the leaf has a listing of its own
    locality_columns: np.ndarray  # lead columns that are towns or streets

    @classmethod
    def build(cls, table: dict[str, tuple[str, ...]], localities: tuple[str, ...], engine: Engine) -> _DutyTables:
        index = {name: j for j, name in enumerate(engine.lead_classes_)}

        def matrix(paths: list[str]) -> np.ndarray:
            out = np.zeros((len(paths), len(index)))
            for r, path in enumerate(paths):
                columns = [index[u] for u in table.get(path, ()) if u in index]
                if columns:
                    out[r, columns] = 1.0 / len(columns)
            return out

        l2_index = {path: r for r, path in enumerate(engine.topic_l2_classes_)}
        leaves = [(k, leaf) for k, leaf in enumerate(engine.topic_l3_classes_) if leaf.rsplit("/", 1)[0] in l2_index]
        by_l3 = matrix([leaf for _, leaf in leaves])
        return cls(matrix(engine.topic_l2_classes_), by_l3, np.array([k for k, _ in leaves], dtype=int),
                   np.array([l2_index[leaf.rsplit("/", 1)[0]] for _, leaf in leaves], dtype=int),
                   (by_l3.sum(axis=1) > 0).astype(float),
                   np.array([index[name] for name in localities if name in index], dtype=int))


@dataclass(frozen=True)
class DirectoryKnowledge:
    """Duty table (topic path → units that usually lead it) and the localities, from the directory."""

    leads_by_topic: dict[str, tuple[str, ...]] = field(default_factory=dict)
    localities: tuple[str, ...] = ()
    prior_weight: float = 0.0
    place_names: tuple[str, ...] = ()  # the directory's towns, streets, city and province: places in a text
    _cache: dict[tuple[str, int], _DutyTables] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, taxonomy_path: Path, directory_path: Path, prior_weight: float) -> DirectoryKnowledge:
        return cls.from_directory(load_label_space(taxonomy_path, directory_path).directory, prior_weight)

    @classmethod
    def from_settings(cls, settings: Settings) -> DirectoryKnowledge:
        return cls.load(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH, settings.DUTY_PRIOR_WEIGHT)

    @classmethod
    def from_directory(cls, directory: Directory, prior_weight: float) -> DirectoryKnowledge:
        table: dict[str, list[str]] = {}
        for unit in (*directory.units, *directory.localities):
            for topic in unit.leads:
                if not topic.endswith("/其他"):  # a catch-all says nothing about who leads
                    table.setdefault(topic, []).append(unit.name)
        places = (*directory.locality_names, *((directory.city,) if directory.city else ()))
        return cls({k: tuple(v) for k, v in table.items()}, tuple(directory.locality_names), prior_weight,
                   tuple(places))

    def lead_distribution(self, engine: Engine, probs: HeadProbabilities, row: int, text: str) -> np.ndarray:
        """The lead head's distribution with the duty prior mixed in and, when the most probable lead is a town
        or street, the one ``text`` names put in its place (the model said "a town", the text says which)."""
        named = self.named_locality(text, engine.lead_classes_) if text else None
        lead_p = self.combine(probs.lead[row], self.lead_prior(engine, probs, row, named))
        top = int(np.argmax(lead_p))
        if named is not None and engine.lead_classes_[top] in self.localities:
            other = engine.lead_classes_.index(named)
            lead_p = lead_p.copy()
            lead_p[top], lead_p[other] = lead_p[other], lead_p[top]
        return lead_p

    def lead_prior(self, engine: Engine, probs: HeadProbabilities, row: int,
                   named: str | None = None) -> np.ndarray | None:
        """P(unit leads | text) through the topic: Σ over paths of P(path) shared among the units listed for it,
        the most specific listing winning (a level-3 leaf's units over its level-2 path's). The share of towns and
        streets goes to ``named``, the one the text names, if any. ``None`` when no listed path has probability."""
        if not probs.topic_l2.size:
            return None
        tables = self._tables(engine)
        p2 = probs.topic_l2[row]
        prior = p2 @ tables.by_l2
        if probs.topic_l3 is not None and probs.topic_l3.shape[1] and tables.by_l3.shape[0]:
            p3 = probs.topic_l3[row, tables.l3_columns] * p2[tables.l3_parent] * tables.l3_listed
            moved = np.bincount(tables.l3_parent, weights=p3, minlength=len(p2))  # mass a listed leaf takes over
            prior += p3 @ tables.by_l3 - moved @ tables.by_l2
        if named is not None and tables.locality_columns.size:
            share = prior[tables.locality_columns].sum()
            prior[tables.locality_columns] = 0.0
            prior[engine.lead_classes_.index(named)] = share
        total = float(prior.sum())
        return prior / total if total > 0 else None

    def _tables(self, engine: Engine) -> _DutyTables:
        """The duty table as matrices over the engine's classes (built once per loaded engine)."""
        key = (engine.version, id(engine))
        if key not in self._cache:
            self._cache.clear()
            self._cache[key] = _DutyTables.build(self.leads_by_topic, self.localities, engine)
        return self._cache[key]

    def combine(self, lead_p: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
        """The learned lead distribution mixed with the duty prior (weight ``SQMY_DUTY_PRIOR_WEIGHT``)."""
        if prior is None or self.prior_weight <= 0:
            return lead_p
        mixed: np.ndarray = (1 - self.prior_weight) * lead_p + self.prior_weight * prior
        return mixed

    def named_locality(self, text: str, candidates: Sequence[str]) -> str | None:
        """The town or street the text names first, among ``candidates`` (the ones the model can route to)."""
        found = [(text.find(name), name) for name in self.localities if name in text and name in candidates]
        return min(found)[1] if found else None
