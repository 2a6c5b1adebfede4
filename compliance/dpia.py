"""The DPIA, generated from the live configuration (GDPR Art. 35(7)(a)-(d)).

Layout follows the ICO DPIA template (need, description of the processing, consultation,
necessity and proportionality, risks rated likelihood x severity, measures, sign-off) and the CNIL
PIA method (context, fundamental principles, risks of illegitimate access / unwanted modification /
disappearance, validation with the DPO's opinion).

* :func:`config_snapshot` - the configuration sections a DPIA describes (sites, cameras with
  context, zones and models, effective policies, retention), as plain JSON;
  :func:`fingerprint` - its SHA-256 over canonical JSON.
* :func:`dpia_content` - the DPIA sections from a snapshot.
* :func:`dpia_create` / :func:`dpia_sign` - services (compliance officer / admin / owner create;
  the compliance officer, as DPO, or the owner signs).
* :func:`dpia_staleness` - compares the DPIA's fingerprint with the live one; when they differ,
  says what changed (``changes``: one row per added, removed or changed item field).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from compliance import rules
from compliance.audit import audit_record
from compliance.jurisdictions import jurisdiction_name, normalise
from compliance.models import Dpia
from compliance.policy import edge_model_capabilities, effective_policy
from compliance.retention import retention_effective
from tenants.errors import Conflict, InvalidInput, NotFound
from tenants.models import Membership, Role, Site, Tenant
from tenants.roles import Action, require
from tenants.scope import tenant_scope

SCHEMA = 1

#: capabilities that identify or profile people (edge_agent.models.base.BIOMETRIC_CAPABILITIES + pose)
BIOMETRIC = frozenset({"biometric_identification", "gait_analysis", "emotion_recognition", "pose_estimation"})

#: CNIL scale for likelihood and severity
SCALE = {1: "negligible", 2: "limited", 3: "significant", 4: "maximum"}

SIGNED_FIELDS = ("signed_by_name", "signed_at", "dpo_opinion", "review_date")


# --- the live configuration ------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _camera_policy(camera: Any) -> dict[str, Any]:
    """The part of the camera's effective policy a DPIA describes (decisions with their traces)."""
    policy = effective_policy(camera)
    return {"policy_id": policy.policy_id, "forbidden_capabilities": sorted(policy.forbidden),
            "allowed_biometric": sorted(policy.allowed_biometric),
            "decisions": {c: {"status": d.status, "trace": d.trace} for c, d in sorted(policy.decisions.items())}}


def _forbidden(policy: dict[str, Any]) -> set[str]:
    return set(policy.get("forbidden_capabilities", []))


def _model_capabilities(model_type: str) -> list[str]:
    try:
        return sorted(edge_model_capabilities(model_type))
    except Exception:  # noqa: BLE001 - an unknown type or a runtime missing here only loses the list
        return []


def _camera_models(camera: Any) -> list[dict[str, Any]]:
    configured = getattr(camera, "edge_models", None)
    if not configured:  # the agent's default set for the scene class
        from edge_agent.config import DEFAULT_MODELS, SceneClass

        configured = [{"type": t, "name": t} for t in DEFAULT_MODELS.get(SceneClass(camera.scene_class), ())]
    stopped = set(getattr(camera, "stopped_models", None) or [])
    out = []
    for entry in configured:
        kind = str(entry.get("type", ""))
        name = str(entry.get("name") or kind)
        out.append({"name": name, "type": kind, "capabilities": _model_capabilities(kind),
                    "stopped": name in stopped})
    return out


def config_snapshot(*, tenant_id: int) -> dict[str, Any]:
    """The configuration a DPIA describes, keyed by object id, JSON only."""
    from cameras.models import Camera, Zone

    with tenant_scope(tenant_id):
        tenant = Tenant.objects.get(pk=tenant_id)
        sites = {s.pk: s for s in Site.objects.order_by("pk")}
        masks: dict[int, dict[str, int]] = {}
        for zone in Zone.objects.order_by("pk").only("camera_id", "kind"):
            masks.setdefault(zone.camera_id, {}).setdefault(zone.kind, 0)
            masks[zone.camera_id][zone.kind] += 1
        cameras = {}
        for camera in Camera.objects.select_related("site").order_by("pk"):
            site = sites[camera.site_id]
            cameras[str(camera.pk)] = {
                "name": camera.name, "site": site.name, "enabled": camera.enabled,
                "scene_class": camera.scene_class, "context": getattr(camera, "context", "unspecified"),
                "stopped": getattr(camera, "stopped_at", None) is not None,
                "zones": masks.get(camera.pk, {}), "models": _camera_models(camera),
                "policy": _camera_policy(camera),
            }
        snapshot = {
            "tenant": {"name": tenant.name, "data_region": tenant.data_region},
            "sites": {str(s.pk): {"name": s.name, "jurisdiction": normalise(s.jurisdiction),
                                  "locality": getattr(s, "locality", ""),
                                  "scene_images_allowed": bool(getattr(s, "scene_images_allowed", False))}
                      for s in sites.values()},
            "cameras": cameras,
            "retention": {kind: v["effective_days"] for kind, v in retention_effective(tenant_id=tenant_id).items()},
        }
    return _jsonable(snapshot)


def fingerprint(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def snapshot_diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed between two snapshots: ``{section, item, field, change, before, after}`` rows."""
    rows: list[dict[str, Any]] = []
    for section in sorted(set(before) | set(after)):
        old, new = before.get(section, {}), after.get(section, {})
        keyed = section in ("sites", "cameras")
        items = sorted(set(old) | set(new), key=lambda k: (len(k), k)) if keyed else [None]
        for key in items:
            a = old.get(key) if keyed else old
            b = new.get(key) if keyed else new
            label = ((b or a or {}).get("name", key) if keyed else section)
            if a is None or b is None:
                rows.append({"section": section, "item": label, "field": None,
                             "change": "added" if a is None else "removed", "before": a, "after": b})
                continue
            for field, old_value, new_value in _leaf_changes(a, b):
                rows.append({"section": section, "item": label, "field": field, "change": "changed",
                             "before": old_value, "after": new_value})
    return rows


def _leaf_changes(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted field, before, after)`` for each differing leaf (lists and scalars are leaves)."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [] if a == b else [(prefix, a, b)]
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
                out.extend(_leaf_changes(a[key], b[key], path))
            else:
                out.append((path, a.get(key), b.get(key)))
    return out


# --- the document ----------------------------------------------------------------------------
def _level(likelihood: int, severity: int) -> dict[str, Any]:
    score = likelihood * severity
    return {"likelihood": likelihood, "likelihood_label": SCALE[likelihood], "severity": severity,
            "severity_label": SCALE[severity], "score": score,
            "level": "low" if score <= 2 else "medium" if score <= 6 else "high"}


def _site_rule_sets(snapshot: dict[str, Any]) -> dict[str, list[Any]]:
    """site name -> the rule sets (compliance.rules) that apply to it."""
    return {site["name"]: rules.rule_sets_for(jurisdiction=site["jurisdiction"], locality=site["locality"])
            for site in snapshot["sites"].values()}


def _enabled_capabilities(camera: dict[str, Any]) -> set[str]:
    if not camera["enabled"] or camera["stopped"]:
        return set()
    forbidden = _forbidden(camera["policy"])
    return {cap for model in camera["models"] if not model.get("stopped")
            for cap in model["capabilities"] if cap not in forbidden}


def _risks(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """The risk register: CNIL's three generic risks, then per rule set each of its rules."""
    risks = [
        {"jurisdiction": "all sites", "risk": "Illegitimate access to alert metadata (CNIL)", "clause": "GDPR Art. 32",
         "mitigation": "tenant isolation fails closed; roles and per-site grants; hashed API tokens; audit log",
         **_level(2, 2)},
        {"jurisdiction": "all sites", "risk": "Unwanted modification of records (CNIL)", "clause": "GDPR Art. 5(1)(f)",
         "mitigation": "hash-chained, append-only audit log with signed checkpoints", **_level(1, 2)},
        {"jurisdiction": "all sites", "risk": "Disappearance of data (CNIL)", "clause": "GDPR Art. 32(1)(c)",
         "mitigation": "durable edge outbox (deleted on acknowledgement only); database backups", **_level(1, 2)},
        {"jurisdiction": "all sites", "risk": "Retention beyond need", "clause": "GDPR Art. 5(1)(e)",
         "mitigation": f"daily purge; alert metadata kept {snapshot['retention'].get('alert_metadata')} days",
         **_level(1, 2)},
    ]
    sets: dict[str, Any] = {}
    cameras_of: dict[str, list[dict[str, Any]]] = {}
    for site_name, rule_sets in _site_rule_sets(snapshot).items():
        for rule_set in rule_sets:
            sets[rule_set.id] = rule_set
            cameras_of.setdefault(rule_set.id, []).extend(
                c for c in snapshot["cameras"].values() if c["site"] == site_name)
    for set_id in sorted(sets):
        rule_set = sets[set_id]
        for rule in rule_set.rules:
            cams = [c for c in cameras_of[set_id] if rule.contexts is None or c["context"] in rule.contexts
                    or c["context"] == "unspecified"]
            hits = sorted({cap for c in cams for cap in _enabled_capabilities(c) & set(rule.capabilities)})
            caps = ", ".join(sorted(rule.capabilities))
            where = f" in {', '.join(sorted(rule.contexts))}" if rule.contexts else ""
            if rule.effect == "forbid":
                what = f"{caps}{where} (prohibited)"
                likelihood, severity = (4 if hits else 1), 4
            else:
                what = f"{caps}{where} without {(rule.consent_kind or 'consent').replace('_', ' ')}"
                likelihood, severity = (2 if hits else 1), 3
            risks.append({
                "jurisdiction": rule_set.name, "rule_set": rule_set.id, "risk": what, "clause": rule.clause,
                "citation": rule.citation, "source_url": rule.source_url,
                "mitigation": (f"enabled on {len(cams)} camera(s) only where the policy allows it: {', '.join(hits)}"
                               if hits else "off on every camera of these sites (policy gating, cloud and edge)"),
                **_level(likelihood, severity),
            })
        for duty in rule_set.duties:
            if duty.get("kind") != "dpia":
                continue
            contexts = duty.get("contexts") or []
            cams = [c for c in cameras_of[set_id]
                    if not contexts or c["context"] in contexts or c["context"] == "unspecified"]
            risks.append({
                "jurisdiction": rule_set.name, "rule_set": rule_set.id,
                "risk": "Systematic monitoring of " + (", ".join(contexts).replace("_", " ") or "people"),
                "clause": duty.get("clause", ""), "citation": duty.get("citation", ""),
                "source_url": duty.get("source_url", ""),
                "mitigation": f"{len(cams)} camera(s) in these contexts; privacy masks; metadata only; signage; "
                              "workers informed before use (AI Act Art. 26(7))",
                **_level(3 if cams else 1, 3),
            })
    return risks


def _measures(snapshot: dict[str, Any]) -> list[dict[str, str]]:
    masks = sum(cam["zones"].get("privacy_mask", 0) for cam in snapshot["cameras"].values())
    blurred = [s["name"] for s in snapshot["sites"].values() if s["scene_images_allowed"]]
    return [
        {"measure": "Privacy masks", "detail": f"{masks} privacy mask zone(s) applied on the device before any model"},
        {"measure": "Blurring", "detail": "face detection is used only to blur; scene reference images (sites: "
                                          f"{', '.join(blurred) or 'none'}) are face-blurred before upload"},
        {"measure": "Biometric gating", "detail": "capabilities the effective policy forbids are refused by the API and by "
                                                  "the agent's registry; biometric capabilities are off unless consent "
                                                  "is on file"},
        {"measure": "Encryption", "detail": "TLS in transit; camera stream credentials encrypted at rest; device "
                                            "configs signed (Ed25519); devices authenticate with their own keys"},
        {"measure": "Access control", "detail": "roles per tenant (owner, admin, operator, compliance officer, viewer); "
                                                "per-site grants; another tenant's data answers 404"},
        {"measure": "Audit", "detail": "append-only, hash-chained audit log with signed checkpoints and an offline "
                                       "verifier; exports, purges and erasures are recorded"},
        {"measure": "Retention and erasure", "detail": "daily purge capped by the jurisdictions' ceilings; legal holds; "
                                                       "erasure requests with proof of deletion"},
        {"measure": "Human oversight", "detail": "alerts are suggestions a person confirms or dismisses; a stop switch "
                                                 "per camera and per model (AI Act Art. 14)"},
    ]


def dpia_content(*, snapshot: dict[str, Any], version: int, generated_at: datetime,
                 dpo_contacts: list[str]) -> dict[str, Any]:
    cameras = list(snapshot["cameras"].values())
    rule_sets = {rs.id: rs for found in _site_rule_sets(snapshot).values() for rs in found}
    duties = [{"rule_set": rs.id, **{k: d.get(k) for k in ("kind", "summary", "clause", "citation", "source_url")}}
              for _, rs in sorted(rule_sets.items()) for d in rs.duties]
    sites = []
    for key, site in snapshot["sites"].items():
        sites.append({**site, "id": int(key), "jurisdiction_name": jurisdiction_name(site["jurisdiction"]),
                      "cameras": [{
                          "name": cam["name"], "enabled": cam["enabled"] and not cam["stopped"],
                          "purpose": (f"detect anomalous activity for security and safety ({cam['scene_class']} "
                                      f"scene, context: {cam['context'].replace('_', ' ')})"),
                          "models": cam["models"], "forbidden_capabilities": sorted(_forbidden(cam["policy"])),
                          "privacy_masks": cam["zones"].get("privacy_mask", 0),
                      } for cam in cameras if cam["site"] == site["name"]]})
    flows = [
        "Video is read and analysed on the edge device at the site; it never leaves the site.",
        "Only metadata leaves the site: alert times, scores, boxes, per-model votes and device health, "
        "over an authenticated, encrypted websocket to the control plane.",
    ]
    if any(s["scene_images_allowed"] for s in snapshot["sites"].values()):
        flows.append("Where a site allows it, one face-blurred scene reference image per camera is uploaded "
                     "(for the zone editor and alert detail): sites "
                     + ", ".join(s["name"] for s in snapshot["sites"].values() if s["scene_images_allowed"]) + ".")
    return {
        "schema": SCHEMA, "title": f"Data protection impact assessment: {snapshot['tenant']['name']}",
        "version": version, "generated_at": generated_at.isoformat(timespec="seconds"),
        "art35_7": {"a": "context", "b": "necessity_proportionality", "c": "risks", "d": "measures"},
        "need": {
            "why": "Systematic monitoring with video analytics (GDPR Art. 35(1), 35(3)(c)); new technology "
                   "(machine-learning anomaly detection).",
            "rule_sets": [rs.summary() for _, rs in sorted(rule_sets.items())],
            "duties": duties,
        },
        "context": {
            "controller": {"name": snapshot["tenant"]["name"], "dpo": dpo_contacts,
                           "hosting_region": snapshot["tenant"]["data_region"]},
            "nature": "Anomaly detection on camera streams by an ensemble of models on an edge device; people "
                      "confirm or dismiss each alert.",
            "scope": {"sites": len(sites), "cameras": len(cameras),
                      "enabled_cameras": sum(1 for c in cameras if c["enabled"] and not c["stopped"])},
            "sites": sites, "data_flows": flows,
            "recipients": ["the controller's members by role (operators handle alerts; compliance officers; "
                           "admins)", "the platform operator as processor (GDPR Art. 28), hosting in region "
                                      f"'{snapshot['tenant']['data_region']}'"],
            "retention": retention_effective_summary(snapshot),
        },
        "consultation": "Record here the consultation of workers' representatives (and AI Act Art. 26(7) "
                        "information of workers) and of data subjects where appropriate.",
        "necessity_proportionality": {
            "lawful_basis": "Legitimate interest in the security of premises and people (GDPR Art. 6(1)(f)); "
                            "biometric processing only with explicit consent (Art. 9(2)(a)) where enabled.",
            "minimisation": "Only metadata leaves the site; privacy masks remove areas before analysis; "
                            "no identification unless a policy allows it with consent.",
            "purpose_limitation": "Each camera's purpose is listed in the context section.",
            "storage_limitation": "Retention per data kind, capped by the strictest jurisdiction (context: retention).",
            "data_subject_rights": "Signage at entrances; erasure requests by camera and time range with proof of "
                                   "deletion; access via the controller.",
        },
        "risks": _risks(snapshot),
        "measures": _measures(snapshot),
        "validation": {"dpo_name": None, "signed_at": None, "dpo_opinion": None, "review_date": None,
                       "status": "draft: not signed"},
    }


def retention_effective_summary(snapshot: dict[str, Any]) -> dict[str, str]:
    return {kind: f"{days} days" for kind, days in snapshot["retention"].items()}


def dpia_document(dpia: Dpia) -> dict[str, Any]:
    """The DPIA's content with its sign-off filled in (what the JSON and PDF exports contain)."""
    content = dict(dpia.content)
    content["validation"] = {
        "dpo_name": dpia.signed_by_name or None,
        "signed_at": dpia.signed_at.isoformat(timespec="seconds") if dpia.signed_at else None,
        "dpo_opinion": dpia.dpo_opinion or None,
        "review_date": dpia.review_date.isoformat() if dpia.review_date else None,
        "status": "signed" if dpia.signed_at else "draft: not signed",
    }
    return content


# --- services ----------------------------------------------------------------------------------
def _dpo_contacts(tenant_id: int) -> list[str]:
    with tenant_scope(tenant_id):
        members = Membership.objects.filter(role=Role.COMPLIANCE_OFFICER).select_related("user").order_by("pk")
        return [f"{m.user.get_full_name() or m.user.get_username()} <{m.user.email}>" for m in members]


def dpia_list(*, member: Membership) -> Any:
    require(member, Action.MANAGE_COMPLIANCE)
    return Dpia.objects.select_related("created_by", "signed_by").order_by("-version")


def dpia_get(*, member: Membership, dpia_id: int) -> Dpia:
    found = dpia_list(member=member).filter(pk=dpia_id).first()
    if found is None:
        raise NotFound("DPIA not found")
    return found


def dpia_create(*, member: Membership) -> Dpia:
    require(member, Action.MANAGE_COMPLIANCE)
    snapshot = config_snapshot(tenant_id=member.tenant_id)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                version = (Dpia.objects.aggregate(v=Max("version"))["v"] or 0) + 1
                now = timezone.now()
                dpia = Dpia.objects.create(
                    tenant_id=member.tenant_id, version=version, config_snapshot=snapshot,
                    config_fingerprint=fingerprint(snapshot), created_by_id=member.user_id,
                    content=dpia_content(snapshot=snapshot, version=version, generated_at=now,
                                         dpo_contacts=_dpo_contacts(member.tenant_id)),
                )
                audit_record(tenant_id=member.tenant_id, action="dpia.create", actor=member, target=dpia,
                             version=version, config_fingerprint=dpia.config_fingerprint)
                return dpia
        except IntegrityError:  # a concurrent create took the version: take the next
            continue
    raise Conflict("another DPIA was being created at the same time; try again")


def dpia_staleness(*, dpia: Dpia) -> dict[str, Any]:
    live = config_snapshot(tenant_id=dpia.tenant_id)
    live_fp = fingerprint(live)
    stale = live_fp != dpia.config_fingerprint
    return {"stale": stale, "live_fingerprint": live_fp,
            "changes": snapshot_diff(dpia.config_snapshot, live) if stale else []}


def dpia_sign(*, member: Membership, dpia_id: int, dpo_name: str, dpo_opinion: str, review_date: date) -> Dpia:
    require(member, Action.SIGN_DPIA)
    dpo_name, dpo_opinion = dpo_name.strip(), dpo_opinion.strip()
    if not dpo_name:
        raise InvalidInput.field("dpo_name", "the DPO's name as it should appear on the sign-off")
    if not dpo_opinion:
        raise InvalidInput.field("dpo_opinion", "the DPO's opinion (advice, whether followed, residual risk)")
    if review_date <= timezone.localdate():
        raise InvalidInput.field("review_date", f"must be in the future, got {review_date.isoformat()}")
    with transaction.atomic():
        dpia = Dpia.objects.select_for_update().filter(pk=dpia_id).first()
        if dpia is None:
            raise NotFound("DPIA not found")
        if dpia.signed_at is not None:
            raise Conflict(f"DPIA v{dpia.version} was already signed by {dpia.signed_by_name} on "
                           f"{dpia.signed_at.date().isoformat()}; create a new version to sign again")
        staleness = dpia_staleness(dpia=dpia)
        if staleness["stale"]:
            what = "; ".join(f"{c['section']} {c['item']}: {c['field'] or c['change']}" for c in staleness["changes"][:5])
            raise Conflict(f"DPIA v{dpia.version} no longer matches the live configuration ({what}); "
                           f"create a new version and sign that")
        dpia.signed_by_id = member.user_id
        dpia.signed_by_name = dpo_name
        dpia.signed_at = timezone.now()
        dpia.dpo_opinion = dpo_opinion
        dpia.review_date = review_date
        dpia.save(update_fields=["signed_by", *SIGNED_FIELDS])
        audit_record(tenant_id=member.tenant_id, action="dpia.sign", actor=member, target=dpia,
                     after={"version": dpia.version, "dpo_name": dpo_name, "review_date": review_date,
                            "config_fingerprint": dpia.config_fingerprint})
    return dpia
