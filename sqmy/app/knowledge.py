"""What the directory knows that the text may not carry: which unit usually leads which topic (its 权责清单,
``leads`` in ``departments.yaml``, level 2 or level 3), and which towns and streets exist (属地管理).

The router mixes the duty prior with the learned lead head, so that a well-recognised topic brings its usual lead
unit even when the words for the unit are absent, and a site that edits the directory changes routing without
retraining. When the lead is a town or street, the one the text names is chosen."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sqmy.core.config import Settings
from sqmy.core.labels import Directory, load_label_space
from sqmy.models.base import Engine, HeadProbabilities


@dataclass(frozen=True)
class DirectoryKnowledge:
    """Duty table (topic path → units that usually lead it) and the localities, from the directory."""

    leads_by_topic: dict[str, tuple[str, ...]] = field(default_factory=dict)
    localities: tuple[str, ...] = ()
    prior_weight: float = 0.0

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
        return cls({k: tuple(v) for k, v in table.items()}, tuple(directory.locality_names), prior_weight)

    def lead_prior(self, engine: Engine, probs: HeadProbabilities, row: int,
                   text: str = "") -> np.ndarray | None:
        """P(unit leads | text) through the topic: Σ over paths of P(path) shared among the units listed for it,
        the most specific listing winning (a level-3 leaf's units over its level-2 path's). The share of towns and
        streets goes to the one ``text`` names, if any. ``None`` when no listed path has probability."""
        if not probs.topic_l2.size:
            return None
        index = {name: j for j, name in enumerate(engine.lead_classes_)}
        named = self.named_locality(text, engine.lead_classes_) if text else None
        if named is not None:
            index = {name: (index[named] if name in self.localities else j) for name, j in index.items()}
        prior = np.zeros(len(engine.lead_classes_))
        l3 = probs.topic_l3[row] if probs.topic_l3 is not None and probs.topic_l3.shape[1] else None
        for j, path in enumerate(engine.topic_l2_classes_):
            mass = float(probs.topic_l2[row, j])
            if mass < 1e-4:
                continue
            if l3 is not None:
                for k, leaf in enumerate(engine.topic_l3_classes_):
                    if leaf.startswith(path + "/") and leaf in self.leads_by_topic:
                        share = mass * float(l3[k])
                        mass -= share
                        self._spread(prior, index, self.leads_by_topic[leaf], share)
            self._spread(prior, index, self.leads_by_topic.get(path, ()), mass)
        total = prior.sum()
        return prior / total if total > 0 else None

    @staticmethod
    def _spread(prior: np.ndarray, index: dict[str, int], units: tuple[str, ...], mass: float) -> None:
        known = [index[u] for u in units if u in index]
        for j in known:
            prior[j] += mass / len(known)

    def combine(self, lead_p: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
        """The learned lead distribution mixed with the duty prior (weight ``SQMY_DUTY_PRIOR_WEIGHT``)."""
        if prior is None or self.prior_weight <= 0:
            return lead_p
        mixed: np.ndarray = (1 - self.prior_weight) * lead_p + self.prior_weight * prior
        return mixed

    def named_locality(self, text: str, candidates: list[str]) -> str | None:
        """The town or street the text names first, among ``candidates`` (the ones the model can route to)."""
        found = [(text.find(name), name) for name in self.localities if name in candidates and name in text]
        return min(found)[1] if found else None
