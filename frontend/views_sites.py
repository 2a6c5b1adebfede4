"""Portal pages: sites (jurisdiction and each camera's effective policy) and compliance (consents,
retention and legal holds, DPIA, record of processing, audit log, erasure).

Thin: every read and write goes through the compliance services and selectors the API uses, and
they decide who may do what (``Action.MANAGE_COMPLIANCE``, ``SIGN_DPIA``, ``VIEW_AUDIT``). A
service error becomes the page again with its message and the error's status (400/403/404/409).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from cameras.selectors import camera_list
from compliance import consents, dpia, erasure, exports, retention, verify
from compliance.audit_signing import audit_entries, audit_export, audit_public_keys
from compliance.models import Consent, ConsentKind, Dpia, ErasureBasis, ErasureRequest, LegalHold
from compliance.policy import SENSITIVE_CAPABILITIES, site_policy
from tenants.errors import NotAllowed, NotFound, VadError
from tenants.models import Membership
from tenants.roles import Action, require, role_allows
from tenants.selectors import site_list

View = Callable[..., HttpResponse]


def _portal(view: View) -> View:
    """Signed-in member of a tenant; a service error is shown on the page with its status."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = getattr(request, "membership", None)
        if member is None:
            return redirect("home")  # no tenant yet: the home page says how to get one
        try:
            return view(request, member, *args, **kwargs)
        except VadError as err:
            if isinstance(err, NotFound):
                raise Http404(err.detail) from None
            return render(request, "frontend/compliance/error.html",
                          {"error": err, "detail": _messages(err)}, status=err.http_status)

    return login_required(wrapper)


def _messages(err: VadError) -> list[str]:
    body = err.as_body()
    return [f"{field}: {msg}" if field != "detail" else str(msg)
            for field, msgs in body.items() for msg in (msgs if isinstance(msgs, list) else [msgs])]


def _form_errors(form: forms.Form, err: VadError) -> None:
    for field, msgs in err.as_body().items():
        for msg in msgs if isinstance(msgs, list) else [msgs]:
            form.add_error(field if field in form.fields else None, str(msg))


def _rights(member: Membership) -> dict[str, bool]:
    return {"can_manage": role_allows(member.role, Action.MANAGE_COMPLIANCE),
            "can_sign": role_allows(member.role, Action.SIGN_DPIA),
            "can_audit": role_allows(member.role, Action.VIEW_AUDIT)}


def _own_or_404(model: Any, pk: int) -> None:
    """Another tenant's id is a 404 for every role, before any role check can answer 403 (the
    scoped manager sees the active tenant's rows only)."""
    if not model.objects.filter(pk=pk).exists():
        raise Http404(f"{model._meta.verbose_name} {pk} not found")


def _file(out: exports.ExportFile) -> HttpResponse:
    response = HttpResponse(out.data, content_type=out.content_type)
    response["Content-Disposition"] = f'attachment; filename="{out.filename}"'
    return response


# --- sites ---------------------------------------------------------------------------------------
@_portal
def sites(request: HttpRequest, member: Membership) -> HttpResponse:
    rows = list(site_list(membership=member).order_by("name", "id"))
    counts: dict[int, int] = {}
    for site_id in camera_list(membership=member).values_list("site_id", flat=True):
        counts[site_id] = counts.get(site_id, 0) + 1
    return render(request, "frontend/sites/list.html",
                  {"sites": [{"site": s, "cameras": counts.get(s.id, 0)} for s in rows]})


@_portal
def site_detail(request: HttpRequest, member: Membership, site_id: int) -> HttpResponse:
    site = site_list(membership=member).filter(id=site_id).first()
    if site is None:
        raise Http404(f"site {site_id} not found")
    cameras = list(camera_list(membership=member).filter(site_id=site.id).order_by("name", "id"))
    policy = site_policy(site, cameras)
    for camera in policy["cameras"]:
        camera["off"] = [d for d in camera["decisions"] if not d["allowed"]]
        camera["on"] = [d for d in camera["decisions"] if d["allowed"]]
    return render(request, "frontend/sites/detail.html", {"site": site, "policy": policy, **_rights(member)})


# --- compliance overview -------------------------------------------------------------------------
@_portal
def overview(request: HttpRequest, member: Membership) -> HttpResponse:
    require(member, Action.MANAGE_COMPLIANCE)
    latest = dpia.dpia_list(member=member).first()
    context: dict[str, Any] = {
        "consents_active": consents.consent_list(member=member).filter(withdrawn_at=None).count(),
        "holds_active": retention.legal_hold_list(member=member).filter(released_at=None).count(),
        "erasures": erasure.erasure_list(member=member).count(),
        "retention": retention.retention_effective(tenant_id=member.tenant_id),
        "latest_dpia": latest, "latest_staleness": dpia.dpia_staleness(dpia=latest) if latest else None,
        **_rights(member),
    }
    return render(request, "frontend/compliance/overview.html", context)


# --- consents ------------------------------------------------------------------------------------
class ConsentForm(forms.Form):
    site = forms.TypedChoiceField(coerce=int, label="Site")
    capability = forms.ChoiceField(choices=[(c, c.replace("_", " ")) for c in sorted(SENSITIVE_CAPABILITIES)])
    kind = forms.ChoiceField(choices=ConsentKind.choices, label="Kind of consent")
    purpose = forms.CharField(max_length=500, help_text="what the capability is used for")
    signer = forms.CharField(max_length=200, help_text="who signed the document")
    document_sha256 = forms.CharField(label="Document SHA-256", max_length=64, min_length=64,
                                      help_text="the 64 hex digits of the signed document's SHA-256")
    signed_at = forms.DateTimeField(label="Signed at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    expires_at = forms.DateTimeField(label="Expires at (optional)", required=False,
                                     widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def __init__(self, *args: Any, sites: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sites = {s.id: s for s in sites}
        self.fields["site"].choices = [(s.id, s.name) for s in self.sites.values()]


@_portal
@require_http_methods(["GET", "POST"])
def consent_page(request: HttpRequest, member: Membership) -> HttpResponse:
    require(member, Action.MANAGE_COMPLIANCE)  # the API lets every role read consents; this section is compliance's
    form = ConsentForm(request.POST or None, sites=site_list(membership=member).order_by("name"))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                consent = consents.consent_create(member=member, site=form.sites[data.pop("site")], **data)
            except VadError as err:
                if isinstance(err, NotAllowed):
                    raise
                _form_errors(form, err)
                status = err.http_status
            else:
                messages.success(request, f"Consent #{consent.id} for {consent.capability} at {consent.site.name} "
                                          f"is recorded; the site's devices get the new policy.")
                return redirect("portal-consents")
        else:
            status = 400
    rows = list(consents.consent_list(member=member).order_by("-signed_at", "-id"))
    return render(request, "frontend/compliance/consents.html",
                  {"form": form, "consents": rows, **_rights(member)}, status=status)


@_portal
@require_POST
def consent_withdraw(request: HttpRequest, member: Membership, consent_id: int) -> HttpResponse:
    _own_or_404(Consent, consent_id)
    consent = consents.consent_withdraw(member=member, consent_id=consent_id, reason=request.POST.get("reason", ""))
    messages.success(request, f"Consent #{consent.id} is withdrawn: {consent.capability} is refused at "
                              f"{consent.site.name} from now on.")
    return redirect("portal-consents")


# --- retention and legal holds -------------------------------------------------------------------
class RetentionForm(forms.Form):
    alert_metadata_days = forms.IntegerField(min_value=0, max_value=36500, label="Alert metadata (days)")
    scene_image_days = forms.IntegerField(min_value=0, max_value=36500, label="Scene images (days)")
    biometric_template_days = forms.IntegerField(min_value=0, max_value=36500, label="Biometric templates (days)")


class HoldForm(forms.Form):
    target = forms.ChoiceField(label="Held data", help_text="a camera or a whole site")
    reason = forms.CharField(max_length=2000, help_text="case, request or authority")
    starts_at = forms.DateTimeField(label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ends_at = forms.DateTimeField(label="Until (optional)", required=False,
                                  widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def __init__(self, *args: Any, member: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cameras = {f"camera:{c.id}": c for c in camera_list(membership=member).order_by("site__name", "name")}
        self.sites = {f"site:{s.id}": s for s in site_list(membership=member).order_by("name")}
        self.fields["target"].choices = [
            ("Sites", [(k, f"site {s.name}") for k, s in self.sites.items()]),
            ("Cameras", [(k, f"camera {c.name} ({c.site.name})") for k, c in self.cameras.items()])]


_RETENTION_FIELDS = {"alert_metadata": "alert_metadata_days", "scene_images": "scene_image_days",
                     "biometric_templates": "biometric_template_days"}


@_portal
@require_http_methods(["GET", "POST"])
def retention_page(request: HttpRequest, member: Membership) -> HttpResponse:
    require(member, Action.MANAGE_COMPLIANCE)
    current = retention.retention_effective(tenant_id=member.tenant_id)
    initial = {f: current[k]["tenant_days"] for k, f in _RETENTION_FIELDS.items() if k in current}
    form = RetentionForm(request.POST if request.POST.get("form") == "retention" else None, initial=initial)
    hold_form = HoldForm(request.POST if request.POST.get("form") == "hold" else None, member=member)
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                retention.retention_update(member=member, **form.cleaned_data)
            except VadError as err:
                _form_errors(form, err)
                status = err.http_status
            else:
                messages.success(request, "Retention periods saved; the strictest jurisdiction still caps them.")
                return redirect("portal-retention")
        else:
            status = 400
    if hold_form.is_bound:
        if hold_form.is_valid():
            data = dict(hold_form.cleaned_data)
            target = data.pop("target")
            where = {"camera": hold_form.cameras[target]} if target in hold_form.cameras else \
                {"site": hold_form.sites[target]}
            try:
                hold = retention.legal_hold_create(member=member, **where, **data)
            except VadError as err:
                _form_errors(hold_form, err)
                status = err.http_status
            else:
                messages.success(request, f"Legal hold #{hold.id} is on: the held data is kept past retention "
                                          f"and cannot be erased until it is released.")
                return redirect("portal-retention")
        else:
            status = 400
    context = {"retention": current, "form": form, "hold_form": hold_form,
               "holds": list(retention.legal_hold_list(member=member)), **_rights(member)}
    return render(request, "frontend/compliance/retention.html", context, status=status)


@_portal
@require_POST
def hold_release(request: HttpRequest, member: Membership, hold_id: int) -> HttpResponse:
    _own_or_404(LegalHold, hold_id)
    hold = retention.legal_hold_release(member=member, hold_id=hold_id)
    messages.success(request, f"Legal hold #{hold.id} is released.")
    return redirect("portal-retention")


# --- DPIA ----------------------------------------------------------------------------------------
class SignForm(forms.Form):
    dpo_name = forms.CharField(max_length=200, label="DPO name")
    dpo_opinion = forms.CharField(max_length=10000, label="DPO opinion", widget=forms.Textarea(attrs={"rows": 4}),
                                  help_text="advice given, whether it was followed, residual risk")
    review_date = forms.DateField(label="Review date", widget=forms.DateInput(attrs={"type": "date"}))


@_portal
@require_http_methods(["GET", "POST"])
def dpia_page(request: HttpRequest, member: Membership) -> HttpResponse:
    if request.method == "POST":
        created = dpia.dpia_create(member=member)
        messages.success(request, f"DPIA version {created.version} is generated from the live configuration.")
        return redirect("portal-dpia-detail", dpia_id=created.id)
    versions = list(dpia.dpia_list(member=member))
    live = dpia.fingerprint(dpia.config_snapshot(tenant_id=member.tenant_id)) if versions else ""
    rows = [{"dpia": d, "stale": d.config_fingerprint != live} for d in versions]
    return render(request, "frontend/compliance/dpia_list.html", {"rows": rows, **_rights(member)})


@_portal
@require_http_methods(["GET", "POST"])
def dpia_detail(request: HttpRequest, member: Membership, dpia_id: int) -> HttpResponse:
    _own_or_404(Dpia, dpia_id)
    found = dpia.dpia_get(member=member, dpia_id=dpia_id)
    form = SignForm(request.POST or None, initial={"dpo_name": request.user.get_full_name()})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                found = dpia.dpia_sign(member=member, dpia_id=found.id, **form.cleaned_data)
            except VadError as err:
                if isinstance(err, NotAllowed):
                    raise
                _form_errors(form, err)
                status = err.http_status
            else:
                messages.success(request, f"DPIA version {found.version} is signed by {found.signed_by_name}.")
                return redirect("portal-dpia-detail", dpia_id=found.id)
        else:
            status = 400
    context = {"dpia": found, "staleness": dpia.dpia_staleness(dpia=found), "doc": dpia.dpia_document(found),
               "form": form, **_rights(member)}
    return render(request, "frontend/compliance/dpia_detail.html", context, status=status)


@_portal
def dpia_download(request: HttpRequest, member: Membership, dpia_id: int, fmt: str) -> HttpResponse:
    _own_or_404(Dpia, dpia_id)
    return _file(exports.dpia_export(member=member, dpia_id=dpia_id, fmt=fmt))


# --- record of processing (Art. 30) --------------------------------------------------------------
@_portal
def records_page(request: HttpRequest, member: Membership) -> HttpResponse:
    from compliance.records import records_rows

    return render(request, "frontend/compliance/records.html", {"rows": records_rows(member=member)})


@_portal
def records_download(request: HttpRequest, member: Membership, fmt: str) -> HttpResponse:
    return _file(exports.records_export(member=member, fmt=fmt))


# --- audit log -----------------------------------------------------------------------------------
class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=100,
                             help_text="exact action, or a prefix ending in '.' such as 'dpia.'")
    actor = forms.CharField(required=False, max_length=200, help_text="username")
    ts_from = forms.DateTimeField(required=False, label="From",
                                  widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ts_to = forms.DateTimeField(required=False, label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


class AuditExportForm(forms.Form):
    format = forms.ChoiceField(choices=[("jsonl", "JSON lines"), ("csv", "CSV")], initial="jsonl")
    ts_from = forms.DateTimeField(required=False, label="From",
                                  widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ts_to = forms.DateTimeField(required=False, label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


AUDIT_PAGE = 100


def _before_param(request: HttpRequest) -> tuple[int | None, str | None]:
    """The paging cursor ``?before=<seq>``: entries older than that one; (None, message) when malformed."""
    raw = request.GET.get("before", "").strip()
    if not raw:
        return None, None
    if not raw.isdigit() or not 0 < int(raw) < 2**63:
        return None, f"before must be an entry's seq (a positive whole number), not {raw[:40]!r}"
    return int(raw), None


@_portal
def audit_page(request: HttpRequest, member: Membership) -> HttpResponse:
    """Newest first, AUDIT_PAGE at a time; "Older entries" is a plain link (``?before=<last seq>``) that
    htmx (HX-Request) turns into "append the next page": it then gets only the rows."""
    require(member, Action.VIEW_AUDIT)
    query = request.GET.copy()
    query.pop("before", None)
    form = AuditFilterForm(query or None)
    export_form = AuditExportForm(prefix="export")
    filters: dict[str, Any] = {}
    status = 200
    before, before_error = _before_param(request)
    if form.is_bound and not form.is_valid():
        status = 400
    elif form.is_bound:
        filters = form.cleaned_data
    if before_error:
        status = 400
    entries = [] if status == 400 else list(audit_entries(member=member, before_seq=before, **filters)[:AUDIT_PAGE + 1])
    more, entries = len(entries) > AUDIT_PAGE, entries[:AUDIT_PAGE]
    next_query = ""
    if more:
        query["before"] = str(entries[-1].seq)
        next_query = query.urlencode()
    query.pop("before", None)
    htmx = request.htmx  # type: ignore[attr-defined]
    partial = bool(htmx) and not htmx.history_restore_request
    response = render(request, "frontend/compliance/_audit_rows.html" if partial else "frontend/compliance/audit.html",
                      {"form": form, "export_form": export_form, "entries": entries, "limit": AUDIT_PAGE,
                       "before": before, "before_error": before_error, "next_query": next_query,
                       "newest_query": query.urlencode(),
                       "partial": partial}, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _verify_export(data: bytes) -> dict[str, Any]:
    """The offline verifier (compliance.verify) run on the exported bytes, with the public keys."""
    with tempfile.TemporaryDirectory() as tmp:
        path, keys_path = Path(tmp) / "export", Path(tmp) / "keys.json"
        path.write_bytes(data)
        keys_path.write_text(json.dumps({"keys": audit_public_keys()}), encoding="utf-8")
        try:
            line = verify.verify(path, verify.load_keys(str(keys_path)))
        except (verify.Broken, verify.BadInput) as err:
            return {"ok": False, "detail": str(err)}
        records, manifest, _fmt, _body = verify.read_export(path)
    entries = sum(1 for r in records if r.get("record") == "entry")
    return {"ok": True, "entries": entries, "detail": line, "manifest": manifest}


@_portal
@require_http_methods(["GET", "POST"])
def audit_export_page(request: HttpRequest, member: Membership) -> HttpResponse:
    """POST: export, verify the file as an auditor would, show the result; ``?download=1``: the file."""
    form = AuditExportForm(request.POST or request.GET or None, prefix="export")
    if not form.is_bound or not form.is_valid():
        require(member, Action.VIEW_AUDIT)
        return render(request, "frontend/compliance/audit_export.html", {"form": form},
                      status=400 if form.is_bound else 200)
    data = form.cleaned_data
    chunks = audit_export(member=member, fmt=data["format"], ts_from=data["ts_from"], ts_to=data["ts_to"])
    body = b"".join(chunks)
    if request.method == "GET":
        response = HttpResponse(body, content_type="text/csv; charset=utf-8" if data["format"] == "csv"
                                else "application/x-ndjson; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audit-{member.tenant.slug}.{data["format"]}"'
        return response
    result = _verify_export(body)
    return render(request, "frontend/compliance/audit_export.html",
                  {"form": form, "result": result, "size": len(body), "query": request.POST.urlencode()})


# --- erasure -------------------------------------------------------------------------------------
class ErasureForm(forms.Form):
    camera = forms.TypedChoiceField(coerce=int, label="Camera")
    starts_at = forms.DateTimeField(label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ends_at = forms.DateTimeField(label="Until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    basis = forms.ChoiceField(choices=ErasureBasis.choices, label="Legal basis")
    reason = forms.CharField(required=False, max_length=2000, help_text="the request, e.g. its reference")

    def __init__(self, *args: Any, member: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["camera"].choices = [(c.id, f"{c.name} ({c.site.name})")
                                         for c in camera_list(membership=member).order_by("site__name", "name")]


@_portal
@require_http_methods(["GET", "POST"])
def erasure_page(request: HttpRequest, member: Membership) -> HttpResponse:
    rows = list(erasure.erasure_list(member=member))
    form = ErasureForm(request.POST or None, member=member)
    status, refusal = 200, None
    if request.method == "POST":
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                done = erasure.erasure_execute(member=member, camera_id=data.pop("camera"), **data)
            except VadError as err:
                if isinstance(err, NotAllowed):
                    raise
                status = err.http_status
                if err.http_status == 409:
                    refusal = err.detail
                else:
                    _form_errors(form, err)
            else:
                messages.success(request, f"Erasure #{done.id} executed: {done.deleted_count} alert(s) deleted.")
                return redirect("portal-erasure-detail", request_id=done.id)
        else:
            status = 400
    return render(request, "frontend/compliance/erasure.html",
                  {"form": form, "rows": rows, "refusal": refusal}, status=status)


@_portal
def erasure_detail(request: HttpRequest, member: Membership, request_id: int) -> HttpResponse:
    _own_or_404(ErasureRequest, request_id)
    found = erasure.erasure_list(member=member).filter(pk=request_id).first()
    if found is None:
        raise Http404("erasure request not found")
    return render(request, "frontend/compliance/erasure_detail.html", {"req": found})
