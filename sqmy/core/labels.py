"""The label space as data: the topic taxonomy and the directory of receiving units.

Both files are replaceable by a site (``SQMY_TAXONOMY_PATH``, ``SQMY_DIRECTORY_PATH``) and are validated on
load; every problem is reported with the file and the entry that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SEP = "/"


class LabelFileError(ValueError):
    """A taxonomy or directory file is malformed; the message names the file and the entry."""


class UnknownLabelError(ValueError):
    """A label is not in the taxonomy or the directory."""

    def __init__(self, kind: str, value: str, hint: str = "") -> None:
        self.kind, self.value = kind, value
        super().__init__(f"未知的{kind}：{value!r}{hint}")


_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser: ~10x faster at every start-up


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LabelFileError(f"{path}: cannot read YAML: {exc}") from exc


@dataclass(frozen=True)
class Taxonomy:
    """Three-level topic tree; a topic path is ``(level1, level2)``, level 3 is informational."""

    tree: dict[str, dict[str, list[str]]]

    @classmethod
    def load(cls, path: Path) -> Taxonomy:
        data = _load_yaml(path)
        if not isinstance(data, dict) or not data:
            raise LabelFileError(f"{path}: expected a mapping level1 -> level2 -> [level3]")
        tree: dict[str, dict[str, list[str]]] = {}
        for l1, children in data.items():
            if not isinstance(l1, str) or not l1.strip():
                raise LabelFileError(f"{path}: level-1 name must be a non-empty string, got {l1!r}")
            if not isinstance(children, dict) or not children:
                raise LabelFileError(f"{path}: level-1 {l1!r} needs at least one level-2 entry")
            tree[l1] = {}
            for l2, l3s in children.items():
                if not isinstance(l2, str) or not l2.strip() or SEP in l2:
                    raise LabelFileError(f"{path}: {l1!r} has an invalid level-2 name {l2!r}")
                if l3s is not None and not (isinstance(l3s, list) and all(isinstance(x, str) for x in l3s)):
                    raise LabelFileError(f"{path}: {l1}/{l2}: level-3 entries must be a list of strings")
                tree[l1][l2] = list(l3s or [])
        return cls(tree)

    @property
    def level1(self) -> list[str]:
        return list(self.tree)

    @property
    def paths(self) -> list[str]:
        """All level-2 paths as ``"level1/level2"``."""
        return [f"{l1}{SEP}{l2}" for l1, kids in self.tree.items() for l2 in kids]

    @property
    def leaves(self) -> list[str]:
        """All level-3 paths as ``"level1/level2/level3"``."""
        return [f"{l1}{SEP}{l2}{SEP}{l3}" for l1, kids in self.tree.items() for l2, l3s in kids.items() for l3 in l3s]

    def check_leaf(self, path: str) -> tuple[str, str | None, str | None]:
        """Split and validate a path of one to three levels; raise :class:`UnknownLabelError`."""
        l1, _, rest = path.partition(SEP)
        l2, _, l3 = rest.partition(SEP)
        l1_, l2_ = self.check_path(f"{l1}{SEP}{l2}" if l2 else l1)
        if l3 and (l2_ is None or l3 not in self.tree[l1_][l2_]):
            raise UnknownLabelError("三级分类", path)
        return l1_, l2_, (l3 or None)

    def check_path(self, path: str) -> tuple[str, str | None]:
        """Split and validate ``"level1"`` or ``"level1/level2"``; raise :class:`UnknownLabelError`."""
        l1, _, l2 = path.partition(SEP)
        if l1 not in self.tree:
            raise UnknownLabelError("一级分类", l1, f"（可选：{'、'.join(self.tree)}）")
        if l2 and l2 not in self.tree[l1]:
            raise UnknownLabelError("二级分类", f"{l1}{SEP}{l2}")
        return l1, (l2 or None)

    def resolve(self, topic: str | list[str]) -> tuple[str, str | None]:
        """Like :meth:`check_path`, also accepting a path as a list and a bare level-2 name."""
        if isinstance(topic, list):
            topic = SEP.join(str(t).strip() for t in topic[:2] if str(t).strip())
        topic = topic.strip()
        if topic and topic not in self.tree and SEP not in topic:
            owners = [l1 for l1, kids in self.tree.items() if topic in kids]
            if len(owners) == 1:
                return owners[0], topic
        return self.check_path(topic)

    def resolve_leaf(self, topic: str | list[str]) -> tuple[str, str | None, str | None]:
        """Like :meth:`resolve`, keeping a level-3 name when the path has one (validated)."""
        parts = [str(t).strip() for t in topic] if isinstance(topic, list) else topic.strip().split(SEP)
        l1, l2 = self.resolve(parts[:2] if len(parts) > 1 else parts[0])
        if len(parts) < 3 or not parts[2]:
            return l1, l2, None
        return self.check_leaf(SEP.join([l1, l2 or "", parts[2]]))

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {"name": l1, "children": [{"name": l2, "children": l3s} for l2, l3s in kids.items()]}
            for l1, kids in self.tree.items()
        ]


@dataclass(frozen=True)
class Unit:
    """One receiving unit (承办单位) or locality (镇/街道)."""

    id: str
    name: str
    short_name: str
    aliases: tuple[str, ...] = ()
    leads: tuple[str, ...] = ()
    assists: tuple[str, ...] = ()
    kind: str = "unit"


@dataclass(frozen=True)
class Directory:
    """Receiving units (possible leads) and localities (possible local co-handlers)."""

    city: str
    units: tuple[Unit, ...]
    localities: tuple[Unit, ...]
    _index: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, path: Path, taxonomy: Taxonomy) -> Directory:
        data = _load_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("units"), list) or not data["units"]:
            raise LabelFileError(f"{path}: expected a mapping with a non-empty 'units' list")
        known_topics = set(taxonomy.paths) | set(taxonomy.leaves)
        units = [cls._unit(path, n, raw, known_topics) for n, raw in enumerate(data["units"], 1)]
        shared = data.get("locality_leads") or []  # topics every town/street leads in its own area (属地管理)
        if not isinstance(shared, list) or any(t not in known_topics for t in shared):
            raise LabelFileError(f"{path}: 'locality_leads' must be a list of taxonomy paths")
        localities = [cls._unit(path, n, {"leads": shared} | raw if isinstance(raw, dict) else raw, known_topics,
                                locality=True) for n, raw in enumerate(data.get("localities") or [], 1)]
        index: dict[str, str] = {}
        ids: set[str] = set()
        for unit in units + localities:
            if unit.id in ids:
                raise LabelFileError(f"{path}: duplicate id {unit.id!r}")
            ids.add(unit.id)
            for key in (unit.name, unit.short_name, *unit.aliases):
                owner = index.setdefault(key, unit.name)
                if owner != unit.name:
                    raise LabelFileError(f"{path}: name or alias {key!r} is used by both {owner} and {unit.name}")
        return cls(str(data.get("city", "")), tuple(units), tuple(localities), index)

    @staticmethod
    def _unit(path: Path, n: int, raw: Any, topics: set[str], *, locality: bool = False) -> Unit:
        where = f"{path}: {'localities' if locality else 'units'}[{n}]"
        if not isinstance(raw, dict):
            raise LabelFileError(f"{where}: expected a mapping")
        for key in ("id", "name"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise LabelFileError(f"{where}: missing field {key!r}")
        where = f"{where} ({raw['name']})"
        lists = {}
        for key in ("aliases", "leads", "assists"):
            value = raw.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise LabelFileError(f"{where}: {key!r} must be a list of strings")
            lists[key] = tuple(value)
        for topic in lists["leads"] + lists["assists"]:
            if topic not in topics:
                raise LabelFileError(f"{where}: unknown topic {topic!r} (use 'level1/level2' or "
                                     "'level1/level2/level3' from the taxonomy)")
        return Unit(
            id=raw["id"], name=raw["name"], short_name=raw.get("short_name") or raw["name"],
            aliases=lists["aliases"], leads=lists["leads"], assists=lists["assists"],
            kind=raw.get("kind", "locality" if locality else "unit"),
        )

    @property
    def unit_names(self) -> list[str]:
        return [u.name for u in self.units]

    @property
    def locality_names(self) -> list[str]:
        return [u.name for u in self.localities]

    def resolve(self, name: str, *, lead: bool = False) -> str:
        """Canonical unit name for a name, short name or alias. A town or street government may lead local
        matters (属地管理) as well as assist."""
        canonical = self._index.get(name.strip())
        if canonical is None:
            raise UnknownLabelError("主办单位" if lead else "承办单位", name)
        return canonical

    def to_dict(self) -> dict[str, Any]:
        def unit(u: Unit) -> dict[str, Any]:
            return {"id": u.id, "name": u.name, "short_name": u.short_name, "aliases": list(u.aliases),
                    "leads": list(u.leads), "assists": list(u.assists), "kind": u.kind}
        return {"city": self.city, "units": [unit(u) for u in self.units],
                "localities": [unit(u) for u in self.localities]}


@dataclass(frozen=True)
class LabelSpace:
    taxonomy: Taxonomy
    directory: Directory


@lru_cache(maxsize=8)
def load_label_space(taxonomy_path: Path, directory_path: Path) -> LabelSpace:
    """Load and cross-validate both files (cached per path pair)."""
    taxonomy = Taxonomy.load(taxonomy_path)
    return LabelSpace(taxonomy, Directory.load(directory_path, taxonomy))
