"""Jurisdiction rules: the reviewed YAML files in ``compliance/rules/``, validated and cached.

Each file is one rule set (EU/EEA, US-IL, ..., the baseline ``default``) checked against
``compliance/rules/schema.json`` when loaded; a file that does not validate stops the load with
an error naming the file and the failing field. (``rules/`` holds data only, no ``__init__.py``:
``compliance.rules`` is this module.)

Which rule sets apply to a site (:func:`rule_sets_for`):

* ``level: baseline`` (``applies_to.everywhere``) applies to every site;
* ``level: country`` / ``state`` apply when the site's jurisdiction code, or its country, is listed
  (``DE-BY`` is in the EU set through ``DE``);
* ``level: city`` applies when the jurisdiction is listed *and* the site's normalised locality is
  one of the set's ``localities``: ``Portland`` in ``US-OR`` (not Portland, Maine), ``New York
  City``/``NYC``/a borough in ``US-NY``. Normalising casefolds, drops dots and apostrophes, and
  collapses spaces, so ``"  new york  CITY "`` and ``"N.Y.C."`` match.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from compliance.jurisdictions import country_of, normalise

RULES_DIR = Path(__file__).resolve().parent / "rules"
SCHEMA_PATH = RULES_DIR / "schema.json"


class RuleFileError(ValueError):
    """A rule file does not parse or does not match the schema."""


@dataclass(frozen=True)
class Rule:
    rule_set: str
    rule_set_version: int
    level: str
    id: str
    effect: str  # "forbid" | "consent_required"
    capabilities: frozenset[str]
    contexts: frozenset[str] | None  # None: every context
    consent_kind: str | None
    summary: str
    clause: str
    citation: str
    source_url: str

    def as_dict(self) -> dict[str, Any]:
        return {"rule_set": self.rule_set, "version": self.rule_set_version, "id": self.id, "effect": self.effect,
                "clause": self.clause, "citation": self.citation, "source_url": self.source_url,
                "summary": self.summary, "contexts": sorted(self.contexts) if self.contexts else None,
                "consent_kind": self.consent_kind}


@dataclass(frozen=True)
class RuleSet:
    id: str
    name: str
    version: int
    reviewed: str
    level: str
    jurisdictions: frozenset[str]
    localities: frozenset[str]
    everywhere: bool
    rules: tuple[Rule, ...]
    retention: tuple[dict[str, Any], ...]
    duties: tuple[dict[str, Any], ...]
    path: str

    def matches(self, *, jurisdiction: str, locality: str) -> bool:
        if self.everywhere:
            return True
        code = normalise(jurisdiction)
        if code not in self.jurisdictions and country_of(code) not in self.jurisdictions:
            return False
        if self.level == "city":
            return normalise_locality(locality) in self.localities
        return True

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version, "reviewed": self.reviewed,
                "level": self.level, "file": self.path}


def normalise_locality(value: str) -> str:
    """``"  N.Y.C. "`` -> ``"nyc"``; ``"City of  Portland"`` -> ``"city of portland"``."""
    value = re.sub(r"[.'’]", "", (value or "").casefold())
    return re.sub(r"\s+", " ", value).strip()


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_document(data: Any, *, source: str) -> None:
    """Raise :class:`RuleFileError` naming ``source`` and the first failing field."""
    errors = sorted(Draft202012Validator(schema()).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "<root>"
        raise RuleFileError(f"{source}: {where}: {first.message} ({len(errors)} error(s))")


def _load_file(path: Path) -> RuleSet:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise RuleFileError(f"{path.name}: not valid YAML: {err}") from None
    validate_document(data, source=path.name)
    set_id, version, level = data["id"], int(data["version"]), data["level"]
    rules = tuple(
        Rule(rule_set=set_id, rule_set_version=version, level=level, id=r["id"], effect=r["effect"],
             capabilities=frozenset(r["capabilities"]),
             contexts=frozenset(r["contexts"]) if r.get("contexts") else None,
             consent_kind=r.get("consent_kind"), summary=" ".join(r["summary"].split()), clause=r["clause"],
             citation=r["citation"], source_url=r["source_url"])
        for r in data["rules"])
    applies = data["applies_to"]
    return RuleSet(
        id=set_id, name=data["name"], version=version, reviewed=str(data["reviewed"]), level=level,
        jurisdictions=frozenset(normalise(c) for c in applies.get("jurisdictions", [])),
        localities=frozenset(normalise_locality(n) for n in applies.get("localities", [])),
        everywhere=bool(applies.get("everywhere")), rules=rules,
        retention=tuple({**r, "rule_set": set_id, "version": version} for r in data.get("retention", [])),
        duties=tuple({**d, "summary": " ".join(d["summary"].split()), "rule_set": set_id, "version": version}
                     for d in data.get("duties", [])),
        path=f"compliance/rules/{path.name}")


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yaml"))


@lru_cache(maxsize=1)
def load_rule_sets() -> tuple[RuleSet, ...]:
    """Every rule set, validated (cached for the process; :func:`reload` clears the cache)."""
    sets = tuple(_load_file(p) for p in rule_files())
    ids = [s.id for s in sets]
    if dupes := sorted({i for i in ids if ids.count(i) > 1}):
        raise RuleFileError(f"rule set ids must be unique; duplicated: {dupes}")
    return sets


def reload() -> tuple[RuleSet, ...]:
    load_rule_sets.cache_clear()
    return load_rule_sets()


def rule_sets_for(*, jurisdiction: str, locality: str = "") -> list[RuleSet]:
    """The rule sets that apply to a site, baseline first, then country/state, then city."""
    order = {"baseline": 0, "country": 1, "state": 2, "city": 3}
    return sorted((s for s in load_rule_sets() if s.matches(jurisdiction=jurisdiction, locality=locality)),
                  key=lambda s: (order[s.level], s.id))


def retention_ceilings(*, jurisdiction: str, locality: str = "") -> dict[str, dict[str, Any]]:
    """data kind -> the strictest (shortest) ceiling among the site's rule sets, with its citation."""
    out: dict[str, dict[str, Any]] = {}
    for rule_set in rule_sets_for(jurisdiction=jurisdiction, locality=locality):
        for entry in rule_set.retention:
            kind = entry["data_kind"]
            if kind not in out or entry["max_days"] < out[kind]["max_days"]:
                out[kind] = dict(entry)
    return out
