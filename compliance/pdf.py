"""PDF renderings (reportlab) of the DPIA and of the Art. 30 record.

Both are built from the same JSON the API returns (:func:`compliance.dpia.dpia_document`,
:func:`compliance.records.records_rows`), so the PDF never says something the JSON does not.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

_STYLES = getSampleStyleSheet()
_CELL = ParagraphStyle("cell", parent=_STYLES["BodyText"], fontSize=8, leading=10)
_HEAD = ParagraphStyle("head", parent=_CELL, fontName="Helvetica-Bold")
_BODY = _STYLES["BodyText"]
_WIDTH = A4[0] - 36 * mm


def _p(text: Any, style: ParagraphStyle = _BODY) -> Paragraph:
    return Paragraph(escape("" if text is None else str(text)), style)


def _table(header: list[str], rows: list[list[Any]], widths: list[float]) -> Table:
    data = [[_p(h, _HEAD) for h in header]] + [[_p(c, _CELL) for c in row] for row in rows]
    table = Table(data, colWidths=[w * _WIDTH for w in widths], repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ee")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table


def _render(title: str, story: list[Flowable], footer: str) -> bytes:
    buffer = io.BytesIO()

    def page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(18 * mm, 10 * mm, f"{footer}  -  page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(buffer, pagesize=A4, title=title, leftMargin=18 * mm, rightMargin=18 * mm,
                            topMargin=16 * mm, bottomMargin=16 * mm)
    doc.build(story, onFirstPage=page, onLaterPages=page)
    return buffer.getvalue()


def dpia_pdf(document: dict[str, Any], *, fingerprint: str, stale: bool,
             progress: Callable[[int], None] | None = None) -> bytes:
    h1, h2 = _STYLES["Title"], _STYLES["Heading2"]
    ctx, val = document["context"], document["validation"]
    story: list[Flowable] = [
        _p(document["title"], h1),
        _p(f"Version {document['version']}, generated {document['generated_at']} from the live configuration "
           f"(fingerprint {fingerprint[:16]}). Layout: ICO DPIA template and CNIL PIA method; content: GDPR "
           "Art. 35(7)(a)-(d)."),
    ]
    if stale:
        story.append(_p("STALE: the configuration changed after this version was generated.", _HEAD))
    story += [_p("1. Need for a DPIA", h2), _p(document["need"]["why"]),
              _table(["Rule set", "Duty", "Clause"],
                     [[d["rule_set"], f"{d['kind']}: {d['summary']}", d["clause"]] for d in document["need"]["duties"]],
                     [0.18, 0.57, 0.25]),
              _p("2. Description of the processing - Art. 35(7)(a)", h2),
              _p(f"Controller: {ctx['controller']['name']}; DPO: {', '.join(ctx['controller']['dpo']) or 'none recorded'};"
                 f" hosting region: {ctx['controller']['hosting_region']}."),
              _p(f"Nature: {ctx['nature']}"),
              _p(f"Scope: {ctx['scope']['sites']} site(s), {ctx['scope']['cameras']} camera(s), "
                 f"{ctx['scope']['enabled_cameras']} enabled.")]
    for site in ctx["sites"]:
        story.append(_p(f"Site {site['name']}: {site['jurisdiction_name']} ({site['jurisdiction']})"
                        + (f", {site['locality']}" if site["locality"] else ""), _HEAD))
        rows = [[c["name"], "yes" if c["enabled"] else "no", c["purpose"],
                 "; ".join(f"{m['name']} ({', '.join(m['capabilities']) or '-'})" for m in c["models"]),
                 ", ".join(c["forbidden_capabilities"]) or "-", c["privacy_masks"]] for c in site["cameras"]]
        story.append(_table(["Camera", "On", "Purpose", "Models (capabilities)", "Refused", "Masks"],
                            rows or [["-", "", "no cameras", "", "", ""]], [0.13, 0.05, 0.27, 0.27, 0.2, 0.08]))
    if progress:
        progress(40)
    story += [_p("Data flows", _HEAD)] + [_p(f"- {f}") for f in ctx["data_flows"]]
    story += [_p("Recipients", _HEAD)] + [_p(f"- {r}") for r in ctx["recipients"]]
    story += [_p("Retention: " + "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in ctx["retention"].items())),
              _p("3. Consultation", h2), _p(document["consultation"]),
              _p("4. Necessity and proportionality - Art. 35(7)(b)", h2)]
    story += [_p(f"{k.replace('_', ' ').capitalize()}: {v}") for k, v in document["necessity_proportionality"].items()]
    story += [PageBreak(), _p("5. Risks (likelihood x severity) - Art. 35(7)(c)", h2),
              _table(["Jurisdiction", "Risk", "Clause", "L", "S", "Level", "Mitigation"],
                     [[r["jurisdiction"], r["risk"], r.get("clause", ""), r["likelihood"], r["severity"], r["level"],
                       r["mitigation"]] for r in document["risks"]],
                     [0.14, 0.22, 0.14, 0.04, 0.04, 0.1, 0.32]),
              _p("6. Measures - Art. 35(7)(d)", h2),
              _table(["Measure", "Detail"], [[m["measure"], m["detail"]] for m in document["measures"]], [0.2, 0.8])]
    if progress:
        progress(70)
    story += [KeepTogether([
        _p("7. Validation and sign-off", h2),
        _table(["Status", "DPO", "Signed at", "Review date", "DPO opinion"],
               [[val["status"], val["dpo_name"] or "-", val["signed_at"] or "-", val["review_date"] or "-",
                 val["dpo_opinion"] or "-"]], [0.14, 0.16, 0.2, 0.12, 0.38]),
    ]), Spacer(1, 6 * mm)]
    return _render(document["title"], story, f"DPIA v{document['version']} - {ctx['controller']['name']}")


def records_pdf(rows: list[dict[str, str]], *, tenant_name: str, generated_at: str) -> bytes:
    h1, h2 = _STYLES["Title"], _STYLES["Heading2"]
    story: list[Flowable] = [
        _p(f"Record of processing activities: {tenant_name}", h1),
        _p(f"GDPR Art. 30(1) (controller) and Art. 30(2) (processor), generated {generated_at} from the live "
           "configuration."),
    ]
    activity = None
    for row in rows:
        if row["activity"] != activity:
            activity = row["activity"]
            story += [Spacer(1, 3 * mm), _p(f"{row['record'].capitalize()} record: {activity}", h2)]
            block = [r for r in rows if r["activity"] == activity]
            story.append(_table(["Clause", "What", "Entry"], [[r["clause"], r["heading"], r["value"]] for r in block],
                                [0.13, 0.27, 0.6]))
    return _render(f"Record of processing: {tenant_name}", story, f"Art. 30 record - {tenant_name}")
