"""A camera's effective privacy policy: the strictest of its site's rules, the tenant's own
settings, the camera's context and the consents on file, with an explanation for every decision.

:func:`effective_policy` decides each sensitive capability (and ``face_detection``, which stays
allowed: detecting faces to blur them identifies no one):

1. a ``forbid`` rule of any applicable rule set whose contexts include the camera's context
   -> ``forbidden`` (no consent changes that: Portland 34.10, AI Act Art. 5(1)(f));
2. the tenant's own ``forbidden_capabilities`` -> ``forbidden`` (a tenant can be stricter, never
   looser: its settings can only add prohibitions);
3. ``consent_required`` rules of the country/state/city rule sets (the baseline's rule only where
   none of them addresses the capability) -> ``allowed_with_consent`` when a consent of the
   strongest kind they ask for (or a stronger one: written release > explicit consent > notice
   with opt-out) is on file for the site and capability, else ``disabled``;
4. otherwise ``allowed``.

A camera whose context is ``unspecified`` gets every context rule. The result goes into the
signed device config (:meth:`EffectivePolicy.device_policy`), where the agent's registry enforces
it again (``edge_agent.models.registry.check_policy``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone

from compliance.models import Consent, ConsentKind, TenantPrivacySettings
from compliance.rules import Rule, RuleSet, rule_sets_for
from edge_agent.models.base import BIOMETRIC_CAPABILITIES, Capability

#: Capabilities that identify or profile people: decided by the rules, off without a decision.
SENSITIVE_CAPABILITIES: tuple[str, ...] = (
    "biometric_identification", "emotion_recognition", "gait_analysis", "pose_estimation")
ALL_CAPABILITIES: tuple[str, ...] = tuple(c.value for c in Capability)
_AGENT_BIOMETRIC = frozenset(c.value for c in BIOMETRIC_CAPABILITIES)

KIND_STRENGTH = {ConsentKind.NOTICE_OPT_OUT: 1, ConsentKind.EXPLICIT_CONSENT: 2, ConsentKind.WRITTEN_RELEASE: 3}
KIND_PHRASE = {ConsentKind.NOTICE_OPT_OUT: "notice with an opt-out", ConsentKind.EXPLICIT_CONSENT: "explicit consent",
               ConsentKind.WRITTEN_RELEASE: "a written release"}
UNSPECIFIED_CONTEXT = "unspecified"


@dataclass(frozen=True)
class Decision:
    capability: str
    status: str  # allowed | allowed_with_consent | disabled | forbidden
    trace: str
    rules: tuple[dict[str, Any], ...] = ()
    consent_id: int | None = None

    @property
    def allowed(self) -> bool:
        return self.status in ("allowed", "allowed_with_consent")

    def as_dict(self) -> dict[str, Any]:
        return {"capability": self.capability, "status": self.status, "allowed": self.allowed, "trace": self.trace,
                "rules": list(self.rules), "consent_id": self.consent_id}


@dataclass(frozen=True)
class EffectivePolicy:
    camera_id: int
    camera_name: str
    site_id: int
    site_name: str
    jurisdiction: str
    locality: str
    context: str
    rule_sets: tuple[dict[str, Any], ...]
    decisions: dict[str, Decision]
    retention: dict[str, dict[str, Any]]
    duties: tuple[dict[str, Any], ...]
    tenant_forbidden: tuple[str, ...]
    stopped: bool = False
    stopped_models: tuple[str, ...] = ()
    policy_id: str = field(default="")
    models: tuple[dict[str, Any], ...] = ()  # the camera's models: capabilities, allowed or not and why

    @property
    def forbidden(self) -> frozenset[str]:
        """Every capability the agent must refuse (forbidden or disabled for want of consent)."""
        return frozenset(c for c, d in self.decisions.items() if not d.allowed)

    @property
    def allowed_biometric(self) -> frozenset[str]:
        return frozenset(c for c, d in self.decisions.items() if d.allowed) & _AGENT_BIOMETRIC

    def blocking(self, capabilities: set[str] | frozenset[str]) -> list[Decision]:
        """The decisions that refuse any of ``capabilities`` (empty: all allowed)."""
        return [self.decisions[c] for c in sorted(capabilities) if c in self.decisions and not self.decisions[c].allowed]

    def device_policy(self) -> dict[str, Any]:
        """The part the agent enforces (``edge_agent.signedconfig.PrivacyPolicySpec``)."""
        return {"policy_id": self.policy_id, "jurisdiction": self.jurisdiction,
                "forbidden_capabilities": sorted(self.forbidden), "allowed_biometric": sorted(self.allowed_biometric)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id, "camera": {"id": self.camera_id, "name": self.camera_name,
                                                    "context": self.context},
            "site": {"id": self.site_id, "name": self.site_name, "jurisdiction": self.jurisdiction,
                     "locality": self.locality},
            "rule_sets": list(self.rule_sets),
            "decisions": [d.as_dict() for d in self.decisions.values()],
            "forbidden_capabilities": sorted(self.forbidden), "allowed_biometric": sorted(self.allowed_biometric),
            "tenant_forbidden_capabilities": list(self.tenant_forbidden),
            "retention_ceilings": self.retention, "duties": list(self.duties),
            "stopped": self.stopped, "stopped_models": list(self.stopped_models),
            "models": list(self.models),
        }


def tenant_forbidden_capabilities() -> tuple[str, ...]:
    """The active tenant's own prohibitions (empty when it has no settings row)."""
    row = TenantPrivacySettings.objects.first()
    return tuple(sorted(row.forbidden_capabilities)) if row else ()


def active_consents(*, site_id: int, at: Any = None) -> list[Consent]:
    now = at or timezone.now()
    return list(Consent.objects.filter(site_id=site_id, withdrawn_at=None, signed_at__lte=now)
                .filter(Q(expires_at=None) | Q(expires_at__gt=now)).order_by("-signed_at", "-id"))


def _applies(rule_contexts: frozenset[str] | None, context: str) -> bool:
    return rule_contexts is None or context == UNSPECIFIED_CONTEXT or context in rule_contexts


class _Resolver:
    def __init__(self, *, camera: Any, site: Any, sets: list[RuleSet], consents: list[Consent],
                 tenant_forbidden: tuple[str, ...], tenant_name: str) -> None:
        self.camera, self.site, self.sets = camera, site, sets
        self.context = camera.context or UNSPECIFIED_CONTEXT
        self.consents = consents
        self.tenant_forbidden = tenant_forbidden
        self.tenant_name = tenant_name
        where = f"site {site.name} is in {site.jurisdiction.strip().upper()}"
        if site.locality:
            where += f" ({site.locality})"
        self.where = where

    def _where(self, rules: list[Rule]) -> str:
        if any(r.contexts for r in rules):
            if self.context == UNSPECIFIED_CONTEXT:
                return f"{self.where}, camera context not set (every context rule applies)"
            return f"{self.where}, camera context {self.context}"
        return self.where

    def _duties(self, capability: str) -> list[dict[str, Any]]:
        return [d for s in self.sets for d in s.duties
                if capability in d.get("capabilities", ()) and _applies(
                    frozenset(d["contexts"]) if d.get("contexts") else None, self.context)]

    def decide(self, capability: str) -> Decision:
        head = f"on camera {self.camera.name}"
        applicable = [r for s in self.sets for r in s.rules
                      if capability in r.capabilities and _applies(r.contexts, self.context)]
        forbids = [r for r in applicable if r.effect == "forbid"]
        if forbids:
            why = "; ".join(f"{r.clause} {r.summary}" for r in forbids)
            if capability in self.tenant_forbidden:
                why += f"; tenant {self.tenant_name} also forbids it"
            return Decision(capability, "forbidden", f"{capability} forbidden {head}: {self._where(forbids)}; {why}",
                            tuple(r.as_dict() for r in forbids))
        if capability in self.tenant_forbidden:
            return Decision(capability, "forbidden",
                            f"{capability} forbidden {head}: tenant {self.tenant_name} forbids it in its own privacy "
                            f"settings (stricter than the rules for {self.site.jurisdiction.strip().upper()})")
        needs = [r for r in applicable if r.effect == "consent_required" and r.level != "baseline"] or \
                [r for r in applicable if r.effect == "consent_required"]
        if not needs:
            note = " (detection for privacy blurring identifies no one)" if capability == "face_detection" else ""
            return Decision(capability, "allowed", f"{capability} allowed {head}: no rule on file for "
                                                   f"{self.where.removeprefix('site ')} restricts it{note}")
        strength = max(KIND_STRENGTH[ConsentKind(r.consent_kind)] for r in needs)
        phrase = "; ".join(f"{r.clause} requires {KIND_PHRASE[ConsentKind(r.consent_kind)]}" for r in needs)
        consent = next((c for c in sorted(self.consents, key=lambda c: -KIND_STRENGTH[ConsentKind(c.kind)])
                        if c.capability == capability and KIND_STRENGTH[ConsentKind(c.kind)] >= strength), None)
        rules = tuple(r.as_dict() for r in needs)
        if consent is None:
            return Decision(capability, "disabled",
                            f"{capability} disabled {head}: {self._where(needs)}; {phrase}; none on file", rules)
        until = f", expires {consent.expires_at.date().isoformat()}" if consent.expires_at else ""
        duties = "".join(f"; duty: {d['clause']}: {d['summary']}" for d in self._duties(capability))
        return Decision(capability, "allowed_with_consent",
                        f"{capability} enabled {head}: {self._where(needs)}; {phrase}; on file: "
                        f"{ConsentKind(consent.kind).label.split(' (')[0].lower()} #{consent.pk} "
                        f"({consent.purpose}) signed by {consent.signer} on {consent.signed_at.date().isoformat()}"
                        f"{until}{duties}", rules, consent.pk)


def effective_policy(camera: Any, *, at: Any = None) -> EffectivePolicy:
    """The camera's policy, read in the active tenant scope (the camera's tenant)."""
    site = camera.site
    sets = rule_sets_for(jurisdiction=site.jurisdiction, locality=site.locality)
    tenant_forbidden = tenant_forbidden_capabilities()
    resolver = _Resolver(camera=camera, site=site, sets=sets, consents=active_consents(site_id=site.pk, at=at),
                         tenant_forbidden=tenant_forbidden, tenant_name=_tenant_name(camera))
    capabilities = [*SENSITIVE_CAPABILITIES, "face_detection",
                    *sorted(set(tenant_forbidden) - set(SENSITIVE_CAPABILITIES) - {"face_detection"})]
    decisions = {c: resolver.decide(c) for c in capabilities}
    context = resolver.context
    retention = _strictest(sets)
    duties = tuple(d for s in sets for d in s.duties
                   if _applies(frozenset(d["contexts"]) if d.get("contexts") else None, context))
    summaries = tuple(s.summary() for s in sets)
    digest = hashlib.sha256(json.dumps(
        [[s["id"], s["version"]] for s in summaries] + [[c, d.status, d.consent_id] for c, d in decisions.items()],
        separators=(",", ":")).encode()).hexdigest()[:12]
    models = tuple(_model_status(spec, decisions, camera) for spec in _camera_model_specs(camera))
    return EffectivePolicy(
        models=models, camera_id=camera.pk, camera_name=camera.name, site_id=site.pk, site_name=site.name,
        jurisdiction=site.jurisdiction.strip().upper(), locality=site.locality, context=context,
        rule_sets=summaries, decisions=decisions, retention=retention, duties=duties,
        tenant_forbidden=tenant_forbidden, stopped=camera.stopped_at is not None,
        stopped_models=tuple(camera.stopped_models or ()), policy_id=f"cam{camera.pk}-{digest}")


def _camera_model_specs(camera: Any) -> list[dict[str, Any]]:
    if camera.edge_models is not None:
        return list(camera.edge_models)
    from edge_agent.config import DEFAULT_MODELS, SceneClass

    return [{"type": t} for t in DEFAULT_MODELS[SceneClass(camera.scene_class)]]


def _model_status(spec: dict[str, Any], decisions: dict[str, Decision], camera: Any) -> dict[str, Any]:
    """One configured model: what it does, whether the policy lets it run, and why not."""
    from edge_agent.errors import EdgeError

    name = spec.get("name") or spec["type"]
    try:
        capabilities = sorted(edge_model_capabilities(spec["type"]))
    except EdgeError as err:  # a plug-in type this control plane cannot load: its capabilities are unknown
        return {"name": name, "type": spec["type"], "capabilities": None, "allowed": False,
                "stopped": name in (camera.stopped_models or ()), "refused_by": [f"unknown capabilities: {err}"]}
    refused = [decisions[c].trace for c in capabilities if c in decisions and not decisions[c].allowed]
    return {"name": name, "type": spec["type"], "capabilities": capabilities, "allowed": not refused,
            "stopped": name in (camera.stopped_models or ()) or camera.stopped_at is not None, "refused_by": refused}


def site_policy(site: Any, cameras: list[Any]) -> dict[str, Any]:
    """The site's rule sets, rules and ceilings, and the effective policy of each of ``cameras``."""
    sets = rule_sets_for(jurisdiction=site.jurisdiction, locality=site.locality)
    return {
        "site": {"id": site.pk, "name": site.name, "jurisdiction": site.jurisdiction.strip().upper(),
                 "locality": site.locality},
        "rule_sets": [s.summary() for s in sets],
        "rules": [r.as_dict() | {"capabilities": sorted(r.capabilities)} for s in sets for r in s.rules],
        "retention_ceilings": _strictest(sets),
        "duties": [d for s in sets for d in s.duties],
        "tenant_forbidden_capabilities": list(tenant_forbidden_capabilities()),
        "cameras": [effective_policy(c).as_dict() for c in cameras],
    }


def _strictest(sets: list[RuleSet]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rule_set in sets:
        for entry in rule_set.retention:
            if entry["data_kind"] not in out or entry["max_days"] < out[entry["data_kind"]]["max_days"]:
                out[entry["data_kind"]] = dict(entry)
    return out


def _tenant_name(camera: Any) -> str:
    from tenants.models import Tenant

    tenant = Tenant.objects.filter(pk=camera.tenant_id).only("name").first()
    return tenant.name if tenant else str(camera.tenant_id)


def require_capabilities_allowed(camera: Any, capabilities: Any, *, what: str, field: str) -> None:
    """Raise ``InvalidInput`` (400 on ``field``) when the camera's policy does not allow one of
    ``capabilities``; the message names ``what`` and carries each refusing decision's trace."""
    from tenants.errors import InvalidInput

    if blocked := effective_policy(camera).blocking(frozenset(capabilities)):
        raise InvalidInput.field(field, f"{what} uses {[d.capability for d in blocked]}: "
                                        + "; ".join(d.trace for d in blocked))


def edge_model_capabilities(model_type: str) -> frozenset[str]:
    """The capabilities an edge model type declares (the agent's own registry says)."""
    from edge_agent.models.registry import get_model_class

    return frozenset(c.value for c in get_model_class(model_type).capabilities)
