"""Portal pages: KPIs, members and roles, account security (TOTP) and the two-step login.

Thin: the numbers come from ``detection.kpis``, the member changes from ``tenants.services`` and
the second factor from ``tenants.twofactor``; errors those raise become a message on the page with
their HTTP status. The SVG plots are drawn here (geometry only, no rule).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from detection import kpis as kpi
from frontend.nav import landing_path
from tenants import selectors, services, twofactor
from tenants.errors import InvalidInput, NotAllowed, VadError
from tenants.models import Role
from tenants.roles import Action, role_allows

# --- plots -------------------------------------------------------------------------------------

CHART_W, CHART_H, PAD_L, PAD_B, PAD_T = 320, 140, 30, 22, 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    label: str
    css: str


def daily_chart(k: kpi.Kpis, *, per_camera: bool) -> dict:
    """Alerts and false alarms per day (a site's per camera), with the budget line at 2."""
    scale = k.cameras if per_camera and k.cameras else 1
    alerts = [a / scale for a in k.alerts_by_day]
    fas = [f / scale for f in k.false_alarms_by_day]
    top = max([kpi.FALSE_ALARM_BUDGET_PER_DAY * 1.5, *alerts])
    plot_w, plot_h = CHART_W - PAD_L - 4, CHART_H - PAD_B - PAD_T
    slot = plot_w / max(1, len(k.days))
    bars = []

    def y_of(v: float) -> float:
        return PAD_T + plot_h - v / top * plot_h

    for i, day in enumerate(k.days):
        x = PAD_L + i * slot
        for j, (value, css, what) in enumerate(((alerts[i], "bar-alerts", "alerts"),
                                                (fas[i], "bar-false", "false alarms"))):
            bars.append(Bar(x=round(x + slot * (0.1 + 0.4 * j), 1), y=round(y_of(value), 1), w=round(slot * 0.38, 1),
                            h=round(plot_h - (y_of(value) - PAD_T), 1), css=css,
                            label=f"{day:%b %d}: {value:g} {what}"))
    ticks = [{"x": round(PAD_L + i * slot + slot / 2, 1), "text": f"{d:%d}"} for i, d in enumerate(k.days)
             if len(k.days) <= 14 or i % max(1, len(k.days) // 10) == 0]
    return {"w": CHART_W, "h": CHART_H, "bars": bars, "ticks": ticks, "x0": PAD_L, "x1": CHART_W - 4,
            "base": PAD_T + plot_h, "budget_y": round(y_of(kpi.FALSE_ALARM_BUDGET_PER_DAY), 1),
            "top": f"{top:g}", "label_y": CHART_H - 6}


def rate_rows(items: list[kpi.Kpis], attr: str, target: float | None, empty: str = "no data") -> dict:
    """Horizontal bars (0-100%) for one rate of each camera or site, with the target line."""
    row_h, label_w, bar_w = 24, 160, 220
    rows = []
    for i, k in enumerate(items):
        value = getattr(k, attr)
        rows.append({"y": 4 + i * row_h, "name": k.name, "value": value,
                     "w": round((value or 0) * bar_w, 1), "text": empty if value is None else f"{value:.1%}",
                     "css": "bar-neutral" if target is None or value is None else "bar-ok" if value > target else "bar-bad"})
    return {"rows": rows, "h": 8 + len(items) * row_h, "x0": label_w, "bar_w": bar_w, "w": label_w + bar_w + 80,
            "target_x": None if target is None else round(label_w + target * bar_w, 1)}


def _date_arg(request: HttpRequest, name: str) -> date | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput.field(name, f"{raw!r} is not a date; use YYYY-MM-DD") from None


@login_required
def kpis_page(request: HttpRequest) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    if membership is None:
        return render(request, "frontend/kpis/kpis.html", {"error": "you are not a member of any tenant"}, status=403)
    try:
        report = kpi.kpi_report(membership=membership, date_from=_date_arg(request, "date_from"),
                                date_to=_date_arg(request, "date_to"))
    except VadError as err:
        body = err.as_body()
        message = "; ".join(f"{k}: {' '.join(v) if isinstance(v, list) else v}" for k, v in body.items())
        return render(request, "frontend/kpis/kpis.html",
                      {"error": message, "date_from": request.GET.get("date_from", ""),
                       "date_to": request.GET.get("date_to", "")}, status=err.http_status)
    context = {
        "report": report, "date_from": report.period.date_from.isoformat(),
        "date_to": report.period.date_to.isoformat(),
        "budget": kpi.FALSE_ALARM_BUDGET_PER_DAY, "ack_target": kpi.ACK_RATE_TARGET, "uptime_target": kpi.UPTIME_TARGET,
        "camera_charts": [(k, daily_chart(k, per_camera=False)) for k in report.cameras],
        "site_charts": [(k, daily_chart(k, per_camera=True)) for k in report.sites],
        "rates": [
            ("Acknowledgement rate", "ack_rate", kpi.ACK_RATE_TARGET, "target above 80%", "no alerts"),
            ("False-alarm rate (of handled alerts)", "false_alarm_rate", None, "from dismiss reasons", "none handled"),
            ("Device uptime", "uptime", kpi.UPTIME_TARGET, "target above 99.5%", "no device"),
        ],
    }
    context["rate_charts"] = [
        {"title": title, "note": note, "cameras": rate_rows(report.cameras, attr, target, empty),
         "sites": rate_rows(report.sites, attr, target, empty)} for title, attr, target, note, empty in context["rates"]]
    return render(request, "frontend/kpis/kpis.html", context)


# --- members and roles -------------------------------------------------------------------------

ROLE_CHOICES = [(r.value, r.label) for r in Role]


def _manager(request: HttpRequest):  # noqa: ANN202
    membership = request.membership  # type: ignore[attr-defined]
    if membership is None or not role_allows(membership.role, Action.MANAGE_MEMBERS):
        label = Role(membership.role).label.lower() if membership is not None else "none"
        raise NotAllowed(f"your role ({label}) does not allow managing members")
    return membership


def _members_page(request: HttpRequest, *, status: int = 200, error: str = "", form: dict | None = None) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    context: dict[str, object] = {"error": error, "form": form or {}, "roles": ROLE_CHOICES}
    if membership is not None and role_allows(membership.role, Action.MANAGE_MEMBERS):
        context.update(members=selectors.member_list(membership=membership),
                       invitations=selectors.invitation_list(membership=membership),
                       sites=selectors.site_list(membership=membership),
                       tenant=membership.tenant, is_owner=membership.role == Role.OWNER)
    return render(request, "frontend/members/members.html", context, status=status)


def _error_text(err: VadError) -> str:
    body = err.as_body()
    if set(body) == {"detail"}:
        return str(body["detail"])
    return "; ".join(f"{k.replace('_', ' ')}: {' '.join(v) if isinstance(v, list) else v}" for k, v in body.items())


@login_required
@require_http_methods(["GET"])
def members_page(request: HttpRequest) -> HttpResponse:
    try:
        _manager(request)
    except NotAllowed as err:
        return _members_page(request, status=403, error=err.detail)  # type: ignore[arg-type]
    return _members_page(request)


def _member_action(request: HttpRequest, action) -> HttpResponse:  # noqa: ANN001
    try:
        done = action(_manager(request))
    except VadError as err:
        return _members_page(request, status=err.http_status, error=_error_text(err), form=request.POST.dict())
    messages.success(request, done)
    return redirect("members")


@login_required
@require_POST
def member_update(request: HttpRequest, membership_id: int) -> HttpResponse:
    def run(actor) -> str:  # noqa: ANN001
        all_sites = request.POST.get("all_sites") == "on"
        site_ids = [] if all_sites else _ids(request.POST.getlist("site_ids"))
        updated = services.membership_update(actor=actor, membership_id=membership_id,
                                             role=request.POST.get("role") or None, all_sites=all_sites,
                                             site_ids=site_ids)
        scope = "every site" if updated.all_sites else f"{len(site_ids)} site(s)"
        return f"{updated.user.username} is now {Role(updated.role).label.lower()} with access to {scope}."
    return _member_action(request, run)


@login_required
@require_POST
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    def run(actor) -> str:  # noqa: ANN001
        services.membership_delete(actor=actor, membership_id=membership_id)
        return "The member is removed from this tenant."
    return _member_action(request, run)


@login_required
@require_POST
def member_invite(request: HttpRequest) -> HttpResponse:
    def run(actor) -> str:  # noqa: ANN001
        email, role = request.POST.get("email", "").strip(), request.POST.get("role", "")
        if "@" not in email:
            raise InvalidInput.field("email", f"{email!r} is not an email address")
        if role not in Role.values:
            raise InvalidInput.field("role", f"unknown role {role!r}; choose one of {sorted(Role.values)}")
        invitation = services.invitation_create(actor=actor, email=email, role=role)
        return f"Invitation sent to {invitation.email} ({Role(invitation.role).label.lower()})."
    return _member_action(request, run)


@login_required
@require_POST
def invitation_withdraw(request: HttpRequest, invitation_id: int) -> HttpResponse:
    def run(actor) -> str:  # noqa: ANN001
        services.invitation_delete(actor=actor, invitation_id=invitation_id)
        return "The invitation is withdrawn; its link no longer works."
    return _member_action(request, run)


@login_required
@require_POST
def tenant_security(request: HttpRequest) -> HttpResponse:
    def run(actor) -> str:  # noqa: ANN001
        on = request.POST.get("require_2fa_for_managers") == "on"
        twofactor.tenant_second_factor_rule_set(member=actor, required=on)
        return ("Owners and admins now need a second factor." if on
                else "A second factor is now optional for owners and admins.")
    return _member_action(request, run)


def _ids(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise InvalidInput.field("site_ids", f"site ids must be numbers, got {values!r}") from None


# --- account security: TOTP set-up ------------------------------------------------------------


@login_required
@never_cache  # the page shows the secret
@require_http_methods(["GET", "POST"])
def account_security(request: HttpRequest) -> HttpResponse:
    user = request.user
    status, error = 200, ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "confirm":
                device = twofactor.totp_confirm(user=user, token=request.POST.get("otp_token", ""))
                otp_login(request, device)
                messages.success(request, "Two-factor sign-in is on: the login now asks for a code.")
                nxt = request.POST.get("next", "")
                return redirect(nxt if _safe(request, nxt) else "account-security")
            if action == "remove":
                twofactor.totp_remove(user=user, token=request.POST.get("otp_token", ""))
                messages.success(request, "Two-factor sign-in is off.")
                return redirect("account-security")
            raise InvalidInput.field("action", f"unexpected action {action!r}; expected 'confirm' or 'remove'")
        except VadError as err:
            status, error = err.http_status, _error_text(err)
    device = twofactor.totp_device(user=user)
    context: dict[str, object] = {
        "device": device, "error": error, "next": request.GET.get("next", request.POST.get("next", "")),
        "required": twofactor.second_factor_required(membership=request.membership),  # type: ignore[attr-defined]
        "verified": user.is_verified() if hasattr(user, "is_verified") else False,
    }
    if device is None:
        pending = twofactor.totp_setup(user=user)
        context.update(config_url=pending.config_url, secret=twofactor.totp_secret_text(pending))
    return render(request, "frontend/account/security.html", context, status=status)


def _safe(request: HttpRequest, url: str) -> bool:
    return bool(url) and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                                         require_https=request.is_secure())


# --- login: password, then the TOTP code when the user has one ---------------------------------

PENDING_KEY = "pending_2fa"
PENDING_TTL_S = 300


@sensitive_post_parameters("password", "otp_token")
@never_cache
@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    nxt = request.POST.get("next", request.GET.get("next", ""))
    # no next, or "/" (what opening the portal's address asks for): the role's landing page (frontend.nav)
    target = nxt if _safe(request, nxt) and nxt != "/" else ""
    if request.method == "POST" and "otp_token" in request.POST:
        return _login_second_step(request, target)
    form = AuthenticationForm(request, data=request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        user = form.get_user()
        if twofactor.totp_device(user=user) is None:
            login(request, user)
            return redirect(target or landing_path(request))
        request.session[PENDING_KEY] = {"user_id": user.pk, "backend": user.backend, "at": time.time()}
        return render(request, "frontend/login.html", {"second_step": True, "next": nxt})
    # A wrong password re-renders the form with 200, as Django's LoginView does (axes counts it).
    return render(request, "frontend/login.html", {"form": form, "next": nxt})


def _login_second_step(request: HttpRequest, target: str) -> HttpResponse:
    pending = request.session.get(PENDING_KEY) or {}
    nxt = request.POST.get("next", "")
    if not pending or time.time() - pending.get("at", 0) > PENDING_TTL_S:
        request.session.pop(PENDING_KEY, None)
        form = AuthenticationForm(request)
        return render(request, "frontend/login.html",
                      {"form": form, "next": nxt, "error": "the sign-in took too long: enter your password again"},
                      status=400)
    user = get_user_model().objects.filter(pk=pending["user_id"], is_active=True).first()
    try:
        if user is None:
            raise InvalidInput("this account can no longer sign in")
        device = twofactor.totp_check(user=user, token=request.POST.get("otp_token", ""))
    except VadError as err:
        return render(request, "frontend/login.html", {"second_step": True, "next": nxt, "error": _error_text(err)},
                      status=err.http_status)
    del request.session[PENDING_KEY]
    login(request, user, backend=pending["backend"])
    otp_login(request, device)
    return redirect(target or landing_path(request))

