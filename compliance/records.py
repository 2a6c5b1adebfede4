"""The record of processing activities (GDPR Art. 30), generated from the live configuration.

* Art. 30(1) (a)-(g): the tenant as controller, one processing activity per site.
* Art. 30(2) (a)-(d): the platform as processor for this tenant (the processor's name, contact and
  DPO come from settings ``VADCLOUD_PROCESSOR_NAME``, ``VADCLOUD_PROCESSOR_CONTACT`` and
  ``VADCLOUD_PROCESSOR_DPO``).

:func:`records_rows` gives one row per activity and clause: ``record`` (controller / processor),
``activity``, ``clause`` (``Art. 30(1)(a)`` ...), ``heading`` (what the clause asks) and ``value``;
:func:`records_csv` writes them as CSV (that long form keeps both records in one table).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.conf import settings
from django.db.models import Count

from compliance.dpia import _dpo_contacts, config_snapshot
from compliance.jurisdictions import jurisdiction_name
from compliance.retention import retention_effective
from tenants.models import Membership, Role
from tenants.roles import Action, require
from tenants.scope import tenant_scope

EEA_SET_ID = "EU-EEA"

CONTROLLER_CLAUSES = (
    ("Art. 30(1)(a)", "Name and contact details of the controller (and joint controller, representative, DPO)"),
    ("Art. 30(1)(b)", "Purposes of the processing"),
    ("Art. 30(1)(c)", "Categories of data subjects and of personal data"),
    ("Art. 30(1)(d)", "Categories of recipients, including in third countries"),
    ("Art. 30(1)(e)", "Transfers to a third country and the safeguards"),
    ("Art. 30(1)(f)", "Time limits for erasure of the categories of data"),
    ("Art. 30(1)(g)", "Technical and organisational security measures (Art. 32(1))"),
)
PROCESSOR_CLAUSES = (
    ("Art. 30(2)(a)", "Name and contact details of the processor, of each controller on whose behalf it acts, "
                      "and of the DPO"),
    ("Art. 30(2)(b)", "Categories of processing carried out on behalf of each controller"),
    ("Art. 30(2)(c)", "Transfers to a third country and the safeguards"),
    ("Art. 30(2)(d)", "Technical and organisational security measures (Art. 32(1))"),
)
FIELDS = ("record", "activity", "clause", "heading", "value")

SECURITY = ("TLS in transit; camera credentials encrypted at rest; signed device configs (Ed25519) and per-device "
            "keys; tenant isolation that fails closed, roles and per-site grants; hash-chained append-only audit "
            "log with signed checkpoints; video stays on site (metadata only); privacy masks and face blurring on "
            "the device; biometric capabilities gated by the jurisdiction rules and consents")


def _hosting(region: str) -> str:
    return {"eu": "the European Union", "us": "the United States"}.get(region, region)


def _transfers(*, in_eea: bool, region: str) -> str:
    if in_eea and region != "eu":
        return (f"Alert metadata of this EEA site is hosted in {_hosting(region)} (a third country): safeguards "
                "must be documented (an adequacy decision under Art. 45 or standard contractual clauses under "
                "Art. 46(2)(c))")
    return f"None: alert metadata is hosted in {_hosting(region)}; video never leaves the site"


def records_rows(*, member: Membership) -> list[dict[str, str]]:
    require(member, Action.MANAGE_COMPLIANCE)
    tenant_id = member.tenant_id
    snapshot = config_snapshot(tenant_id=tenant_id)
    retention = retention_effective(tenant_id=tenant_id)
    with tenant_scope(tenant_id):
        roles = dict(Membership.objects.values_list("role").annotate(n=Count("pk")).order_by("role"))
    dpo = _dpo_contacts(tenant_id)
    tenant, region = snapshot["tenant"]["name"], snapshot["tenant"]["data_region"]
    from compliance import rules

    rows: list[dict[str, str]] = []
    for site in snapshot["sites"].values():
        cameras = [c for c in snapshot["cameras"].values() if c["site"] == site["name"]]
        sets = rules.rule_sets_for(jurisdiction=site["jurisdiction"], locality=site["locality"])
        in_eea = any(s.id == EEA_SET_ID for s in sets)
        biometric = sorted({b for c in cameras for b in c["policy"]["allowed_biometric"]})
        data = ["alert metadata (times, anomaly scores, bounding boxes, per-model votes, zone)",
                "operator actions on alerts (who, when, reason)", "edge device health"]
        if site["scene_images_allowed"]:
            data.append("one face-blurred scene reference image per camera")
        if biometric:
            data.append(f"biometric data, with consent on file ({', '.join(biometric)})")
        purposes = sorted({f"anomaly detection for security and safety ({c['scene_class']}, context "
                           f"{c['context'].replace('_', ' ')})" for c in cameras}) or ["no cameras yet"]
        kept = "; ".join(
            f"{kind.replace('_', ' ')}: {v['effective_days']} days"
            + (f" (capped by {v['ceiling']['clause']})" if v["capped"] else "")
            for kind, v in retention.items())
        values = (
            f"{tenant}; DPO / compliance officers: {', '.join(dpo) or 'none recorded'}",
            "; ".join(purposes) + ". Lawful basis: legitimate interest (Art. 6(1)(f)); biometric processing only "
                                  "with explicit consent (Art. 9(2)(a)) or the jurisdiction's written release",
            "Data subjects: employees, customers, visitors and passers-by in view of "
            f"{len(cameras)} camera(s). Data: " + "; ".join(data),
            "Members of the controller by role (" + ", ".join(f"{Role(r).label.lower()}: {n}" for r, n in roles.items())
            + f"); the platform operator as processor (Art. 28), hosting in {_hosting(region)}",
            _transfers(in_eea=in_eea, region=region),
            kept + "; held data (legal holds) is kept until the hold is released; erasure requests on demand",
            SECURITY,
        )
        activity = (f"Video anomaly detection at site {site['name']} "
                    f"({jurisdiction_name(site['jurisdiction'])}, {site['jurisdiction']})")
        for (clause, heading), value in zip(CONTROLLER_CLAUSES, values, strict=True):
            rows.append({"record": "controller", "activity": activity, "clause": clause, "heading": heading,
                         "value": value})
    processor = getattr(settings, "VADCLOUD_PROCESSOR_NAME", "VADCloud platform operator")
    contact = getattr(settings, "VADCLOUD_PROCESSOR_CONTACT", settings.DEFAULT_FROM_EMAIL)
    processor_dpo = getattr(settings, "VADCLOUD_PROCESSOR_DPO", "not set (settings VADCLOUD_PROCESSOR_DPO)")
    values = (
        f"Processor: {processor} <{contact}>; DPO: {processor_dpo}; on behalf of controller {tenant}",
        "Hosting and processing of alert metadata sent by the controller's edge devices; the alert workflow; "
        "edge device enrollment and signed configuration; audit log; compliance exports",
        f"Hosting in {_hosting(region)}; no other third-country transfer by the processor",
        SECURITY,
    )
    for (clause, heading), value in zip(PROCESSOR_CLAUSES, values, strict=True):
        rows.append({"record": "processor", "activity": f"Platform services for {tenant}", "clause": clause,
                     "heading": heading, "value": value})
    return rows


def records_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
