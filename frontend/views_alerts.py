"""Portal pages for alerts: the live alert wall and the explainable alert detail.

Thin: reads go through ``detection.selectors`` (visibility, tenant scope), acknowledge / dismiss
through ``detection.services`` (role and visibility checks, audit, live push), the same functions
the API and the alert-wall socket call. What is computed here is presentation only: the wall's
filters parsed from the query string, and the geometry of the two SVG drawings on the detail page.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from cameras.selectors import camera_list
from detection import services
from detection.models import PORTAL_ACK_REASONS, PORTAL_DISMISS_REASONS, Alert, AlertStatus, ReasonCode
from detection.selectors import alert_get, alert_list
from tenants.errors import InvalidInput, NotFound, VadError
from tenants.roles import Action, role_allows
from tenants.selectors import site_list

WALL_LIMIT = 200  # rows rendered at first; newer ones arrive over the socket
BURST_COUNT = 5  # more new alerts than this ...
BURST_WINDOW_S = 4  # ... within this many seconds are grouped per camera on the wall

PLOT_W, PLOT_H, PLOT_PAD = 640, 220, 40


def _id_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**63:
        raise InvalidInput.field(name, f"{name} must be a positive whole number, not {raw[:40]!r}")
    return int(raw)


def _status_param(request: HttpRequest) -> str | None:
    raw = request.GET.get("status", "").strip()
    if raw and raw not in AlertStatus.values:
        raise InvalidInput.field("status", f"status {raw[:40]!r} is unknown; use one of {sorted(AlertStatus.values)}")
    return raw or None


def _no_tenant(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/alerts/error.html",
                  {"title": "No tenant", "errors": ["You are not a member of any tenant yet."]}, status=403)


def _error_lines(err: VadError) -> list[str]:
    body = err.as_body()
    if set(body) == {"detail"}:
        return [str(body["detail"])]
    return [f"{field}: {msg}" for field, msgs in body.items() for msg in (msgs if isinstance(msgs, list) else [msgs])]


@login_required
@require_GET
def alert_wall(request: HttpRequest) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    if membership is None:
        return _no_tenant(request)
    context: dict[str, Any] = {
        "sites": site_list(membership=membership), "cameras": camera_list(membership=membership),
        "statuses": AlertStatus.choices, "can_handle": role_allows(membership.role, Action.HANDLE_ALERTS),
        "dismiss_reasons": [(r.value, r.label) for r in PORTAL_DISMISS_REASONS],
        "wall_config": {"burst_count": BURST_COUNT, "burst_window_s": BURST_WINDOW_S,
                        "ack_reason": PORTAL_ACK_REASONS[0].value,
                        "reason_labels": dict(ReasonCode.choices), "status_labels": dict(AlertStatus.choices)},
    }
    # the filter form asks with HX-Request (htmx): it gets only the list (<tbody>), a history restore the page
    htmx = request.htmx  # type: ignore[attr-defined]
    partial = bool(htmx) and not htmx.history_restore_request
    template = "frontend/alerts/_wall_rows.html" if partial else "frontend/alerts/wall.html"
    context["partial"] = partial
    try:
        site_id, camera_id, status = _id_param(request, "site"), _id_param(request, "camera"), _status_param(request)
    except InvalidInput as err:
        context.update(errors=_error_lines(err), alerts=[], filters={})
        return _vary_on_htmx(render(request, template, context, status=400))
    filters = {"site": site_id, "camera": camera_id, "status": status}
    alerts = list(alert_list(membership=membership, site_id=site_id, camera_id=camera_id, status=status)[:WALL_LIMIT])
    context.update(alerts=alerts, filters=filters, open_count=sum(a.status == AlertStatus.OPEN for a in alerts))
    context["wall_config"]["filters"] = filters
    return _vary_on_htmx(render(request, template, context))


def _vary_on_htmx(response: HttpResponse) -> HttpResponse:
    """The same URL answers a page or a fragment: caches must key on HX-Request."""
    patch_vary_headers(response, ("HX-Request",))
    return response


def _models(alert: Alert) -> list[dict[str, Any]]:
    """Per-model rows: name, type, calibrated score, vote and its top three pieces of evidence."""
    rows = []
    for name, info in (alert.per_model or {}).items():
        if not isinstance(info, dict):
            continue
        evidence = [e for e in info.get("evidence") or [] if isinstance(e, dict)]
        evidence.sort(key=lambda e: -abs(e["value"]) if isinstance(e.get("value"), int | float) else 0)
        rows.append({"name": name, "type": info.get("type") or "", "score": info.get("score"),
                     "vote": bool(info.get("vote")), "weight": info.get("weight"), "evidence": evidence[:3]})
    rows.sort(key=lambda r: (not r["vote"], -(r["score"] if isinstance(r["score"], int | float) else 0)))
    return rows


def _boxes(alert: Alert) -> list[dict[str, float]]:
    """The alert's boxes ([x, y, w, h] in camera pixels) clipped to the frame, for the SVG."""
    out = []
    for box in alert.boxes or []:
        if isinstance(box, dict):
            box = [box.get("x"), box.get("y"), box.get("w"), box.get("h")]
        if not isinstance(box, list | tuple) or len(box) != 4 or not all(isinstance(v, int | float) for v in box):
            continue
        x, y, w, h = (max(0.0, float(v)) for v in box)
        out.append({"x": x, "y": y, "w": w, "h": h})
    return out


def _curve(alert: Alert) -> dict[str, Any] | None:
    """The score curve as SVG geometry: the polyline, the threshold line, the peak and the axis ticks."""
    curve = alert.curve if isinstance(alert.curve, dict) else {}
    scores = curve.get("scores")
    if not isinstance(scores, list) or len(scores) < 2 or not all(isinstance(s, int | float) for s in scores):
        return None
    if not all(math.isfinite(s) for s in scores):
        return None
    threshold = curve.get("threshold")
    threshold = float(threshold) if isinstance(threshold, int | float) and math.isfinite(threshold) else None
    t0 = float(curve.get("t0") or 0.0) if isinstance(curve.get("t0"), int | float) else 0.0
    dt = float(curve.get("dt") or 1.0) if isinstance(curve.get("dt"), int | float) and curve.get("dt") else 1.0
    top = max([*scores, threshold or 0.0, 1e-9]) * 1.1
    bottom = min(0.0, *scores)
    inner_w, inner_h = PLOT_W - 2 * PLOT_PAD, PLOT_H - 2 * PLOT_PAD

    def x_of(i: int) -> float:
        return PLOT_PAD + inner_w * i / (len(scores) - 1)

    def y_of(v: float) -> float:
        return PLOT_PAD + inner_h * (1 - (v - bottom) / (top - bottom))

    points = " ".join(f"{x_of(i):.1f},{y_of(s):.1f}" for i, s in enumerate(scores))
    peak = max(range(len(scores)), key=lambda i: scores[i])
    ticks = [{"x": round(x_of(i), 1), "label": f"{t0 + i * dt:g}"}
             for i in sorted({0, (len(scores) - 1) // 2, len(scores) - 1})]
    return {
        "w": PLOT_W, "h": PLOT_H, "pad": PLOT_PAD, "right": PLOT_W - PLOT_PAD, "bottom": PLOT_H - PLOT_PAD,
        "points": points, "threshold": threshold,
        "threshold_y": round(y_of(threshold), 1) if threshold is not None else None,
        "peak_x": round(x_of(peak), 1), "peak_y": round(y_of(scores[peak]), 1), "peak": scores[peak],
        "top": f"{top:.2f}", "ticks": ticks, "n": len(scores),
        "above": sum(1 for s in scores if threshold is not None and s >= threshold),
    }


def _detail(request: HttpRequest, alert: Alert, *, errors: list[str] | None = None, status: int = 200,
            form: dict[str, str] | None = None) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    camera = alert.camera
    context = {
        "alert": alert, "camera": camera, "models": _models(alert), "boxes": _boxes(alert), "curve": _curve(alert),
        "scene_image": f"/api/v1/cameras/{camera.id}/scene-image/" if camera.scene_image else None,
        "can_handle": role_allows(membership.role, Action.HANDLE_ALERTS), "errors": errors or [],
        "ack_reasons": [(r.value, r.label) for r in PORTAL_ACK_REASONS],
        "dismiss_reasons": [(r.value, r.label) for r in PORTAL_DISMISS_REASONS],
        "form": form or {},
    }
    return render(request, "frontend/alerts/detail.html", context, status=status)


@login_required
@require_GET
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    if membership is None:
        return _no_tenant(request)
    try:
        alert = alert_get(membership=membership, alert_id=alert_id)
    except NotFound as err:
        return render(request, "frontend/alerts/error.html",
                      {"title": "Alert not found", "errors": _error_lines(err)}, status=404)
    return _detail(request, alert)


@login_required
@require_POST
def alert_close(request: HttpRequest, alert_id: int, verb: str) -> HttpResponse:
    """POST /alerts/<id>/acknowledge/ or /dismiss/ (reason, note): the services decide; an error is
    shown on the detail page with its status (400 bad reason, 403 role, 404 not visible, 409 handled)."""
    membership = request.membership  # type: ignore[attr-defined]
    if membership is None:
        return _no_tenant(request)
    service = services.alert_acknowledge if verb == "acknowledge" else services.alert_dismiss
    reason, note = request.POST.get("reason", "").strip(), request.POST.get("note", "")
    try:
        if not reason:
            raise InvalidInput.field("reason", f"choose a reason to {verb} the alert")
        if len(note) > 2000:
            raise InvalidInput.field("note", f"the note has {len(note)} characters; at most 2000")
        alert = service(member=membership, alert_id=alert_id, reason=reason, note=note)
    except NotFound as err:
        return render(request, "frontend/alerts/error.html",
                      {"title": "Alert not found", "errors": _error_lines(err)}, status=404)
    except VadError as err:
        alert = alert_get(membership=membership, alert_id=alert_id)
        return _detail(request, alert, errors=_error_lines(err), status=err.http_status,
                       form={"verb": verb, "reason": reason, "note": note})
    done = "acknowledged" if verb == "acknowledge" else "dismissed"
    messages.success(request, f"Alert {alert.id} {done}: {alert.get_reason_code_display()}.")
    return redirect("alert-detail", alert_id=alert.id)
