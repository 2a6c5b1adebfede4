"""The jurisdiction rule files: each validates against the schema and cites its clauses."""

from __future__ import annotations

import copy

import pytest
import yaml

from compliance import rules
from compliance.rules import RuleFileError, normalise_locality, rule_files, rule_sets_for, validate_document

EXPECTED_SETS = {"default", "EU-EEA", "US-IL", "US-TX", "US-WA", "US-CO", "US-OR-Portland", "US-NY-NYC"}

# rule set -> clauses it must carry (from ../shared/reference/compliance-facts.md)
EXPECTED_CLAUSES = {
    "EU-EEA": {"GDPR Art. 9(1)", "AI Act Art. 5(1)(f)", "AI Act Art. 5(1)(h)", "AI Act Art. 26(6)", "AI Act Art. 14",
               "GDPR Art. 35", "EDPB Guidelines 3/2019"},
    "US-IL": {"740 ILCS 14/15(b)", "740 ILCS 14/15(a)"},
    "US-TX": {"Tex. Bus. & Com. Code 503.001(b)"},
    "US-WA": {"RCW 19.375.020"},
    "US-CO": {"C.R.S. 6-1-1314"},
    "US-OR-Portland": {"Portland City Code 34.10"},
    "US-NY-NYC": {"NYC Admin. Code 22-1202(a)"},
    "default": {"VADCloud baseline B1"},
}


def _clauses(rule_set: rules.RuleSet) -> set[str]:
    return {r.clause for r in rule_set.rules} | {e["clause"] for e in rule_set.retention} | \
           {d["clause"] for d in rule_set.duties}


@pytest.mark.parametrize("path", rule_files(), ids=lambda p: p.name)
def test_every_rule_file_validates_against_the_schema(path):  # noqa: ANN001
    validate_document(yaml.safe_load(path.read_text(encoding="utf-8")), source=path.name)


def test_all_jurisdictions_are_covered_each_with_its_citations_and_sources():
    sets = {s.id: s for s in rules.reload()}
    assert set(sets) == EXPECTED_SETS
    for set_id, clauses in EXPECTED_CLAUSES.items():
        assert clauses <= _clauses(sets[set_id]), (set_id, clauses - _clauses(sets[set_id]))
    for rule_set in sets.values():
        assert rule_set.version >= 1 and rule_set.reviewed
        entries = [r.as_dict() for r in rule_set.rules] + list(rule_set.retention) + list(rule_set.duties)
        for entry in entries:
            assert entry["citation"] and entry["clause"], (rule_set.id, entry)
            assert entry["source_url"].startswith(("https://", "http://", "repo:")), (rule_set.id, entry)


def test_the_illinois_release_and_the_eu_bans_are_encoded_as_the_law_says():
    sets = {s.id: s for s in rules.load_rule_sets()}
    bipa = next(r for r in sets["US-IL"].rules if r.clause == "740 ILCS 14/15(b)")
    assert (bipa.effect, bipa.consent_kind) == ("consent_required", "written_release")
    assert "biometric_identification" in bipa.capabilities
    emotion = next(r for r in sets["EU-EEA"].rules if r.clause == "AI Act Art. 5(1)(f)")
    assert emotion.effect == "forbid" and emotion.contexts == {"workplace", "education"}
    portland = next(r for r in sets["US-OR-Portland"].rules if r.clause == "Portland City Code 34.10")
    assert portland.effect == "forbid" and portland.contexts == {"publicly_accessible"}
    logs = next(d for d in sets["EU-EEA"].duties if d["clause"] == "AI Act Art. 26(6)")
    assert logs["min_days"] >= 183


def test_no_rule_touches_face_detection_so_blurring_stays_allowed():
    for rule_set in rules.load_rule_sets():
        for rule in rule_set.rules:
            assert "face_detection" not in rule.capabilities, (rule_set.id, rule.id)


def test_a_document_breaking_the_schema_is_refused_naming_the_field():
    path = next(p for p in rule_files() if p.name == "us-il.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing_url = copy.deepcopy(data)
    del missing_url["rules"][0]["source_url"]
    with pytest.raises(RuleFileError, match=r"us-il.yaml: rules/0: 'source_url' is a required property"):
        validate_document(missing_url, source="us-il.yaml")
    no_kind = copy.deepcopy(data)
    del no_kind["rules"][0]["consent_kind"]
    with pytest.raises(RuleFileError, match="consent_kind"):
        validate_document(no_kind, source="us-il.yaml")
    bad_capability = copy.deepcopy(data)
    bad_capability["rules"][0]["capabilities"] = ["mind_reading"]
    with pytest.raises(RuleFileError, match="mind_reading"):
        validate_document(bad_capability, source="us-il.yaml")


@pytest.mark.parametrize(("jurisdiction", "locality", "expected"), [
    ("US-OR", "Portland", ["default", "US-OR-Portland"]),
    ("US-OR", "  city of  PORTLAND ", ["default", "US-OR-Portland"]),
    ("US-ME", "Portland", ["default"]),  # Portland, Maine: not the Oregon ordinance
    ("US-OR", "Salem", ["default"]),
    ("US-NY", "N.Y.C.", ["default", "US-NY-NYC"]),
    ("US-NY", "Brooklyn", ["default", "US-NY-NYC"]),
    ("US-NY", "Buffalo", ["default"]),
    ("us-il", "Chicago", ["default", "US-IL"]),
    ("DE-BY", "", ["default", "EU-EEA"]),
    ("NO", "", ["default", "EU-EEA"]),
    ("JP", "", ["default"]),
])
def test_sites_are_matched_by_jurisdiction_and_city_rules_by_locality(jurisdiction, locality, expected):  # noqa: ANN001
    assert [s.id for s in rule_sets_for(jurisdiction=jurisdiction, locality=locality)] == expected


def test_locality_normalisation_ignores_case_dots_and_spaces():
    assert normalise_locality("  New   York CITY ") == "new york city"
    assert normalise_locality("N.Y.C.") == "nyc"
