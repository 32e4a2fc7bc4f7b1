"""Server-rendered SVG line chart (pure; no Django).

The content-security policy allows only same-origin scripts and no CDN is reachable, so
charts are drawn on the server as inline SVG: no JavaScript, printable, and accessible
through <title>/<desc> (role="img") with the numbers also given as a table on the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from html import escape

WIDTH, HEIGHT = 640, 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 16, 16, 40
DATE_LABEL_PX = 64  # width of a YYYY-MM-DD label at font size 11


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / max(ticks, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def line_chart_svg(
    points: Sequence[tuple[date, float]],
    *,
    title: str,
    description: str,
    y_label: str,
    chart_id: str = "chart",
    reference: float | None = None,
) -> str:
    """An SVG line chart of dated values; empty input gives a chart saying 'No data'.

    ``reference`` draws a dashed horizontal line (e.g. the baseline value). All text is
    HTML-escaped, so the result is safe to insert into a page.
    """
    tid, did = f"{chart_id}-title", f"{chart_id}-desc"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{tid} {did}" id="{escape(chart_id)}">'
        f'<title id="{tid}">{escape(title)}</title><desc id="{did}">{escape(description)}</desc>'
    )
    pts = [(d, float(v)) for d, v in points if v is not None and math.isfinite(float(v))]
    if not pts:
        return (
            head + f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#5b6b76">'
            "No data yet</text></svg>"
        )
    pts.sort(key=lambda p: p[0])
    values = [v for _, v in pts] + ([reference] if reference is not None else [])
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    step = _nice_step(hi - lo)
    y0 = math.floor(lo / step) * step
    y1 = math.ceil(hi / step) * step
    d0, d1 = pts[0][0].toordinal(), pts[-1][0].toordinal()
    if d1 == d0:
        d0, d1 = d0 - 1, d1 + 1
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(d: date) -> float:
        return PAD_LEFT + (d.toordinal() - d0) / (d1 - d0) * plot_w

    def y(v: float) -> float:
        return PAD_TOP + (1 - (v - y0) / (y1 - y0)) * plot_h

    parts = [head]
    # Axes and horizontal grid lines with labels.
    n_ticks = round((y1 - y0) / step)
    for i in range(n_ticks + 1):
        v = y0 + i * step
        yy = y(v)
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" '
            'stroke="#d8e0e5" stroke-width="1"/>'
            f'<text x="{PAD_LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#5b6b76">{v:g}</text>'
        )
    parts.append(
        f'<text x="14" y="{PAD_TOP + plot_h / 2:.1f}" font-size="11" fill="#5b6b76" '
        f'text-anchor="middle" transform="rotate(-90 14 {PAD_TOP + plot_h / 2:.1f})">'
        f"{escape(y_label)}</text>"
    )
    if reference is not None:
        ry = y(reference)
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{ry:.1f}" y2="{ry:.1f}" '
            'stroke="#8a5a00" stroke-width="1.5" stroke-dasharray="5 4"/>'
        )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for i, (d, v) in enumerate(pts)
    )
    parts.append(f'<path d="{path}" fill="none" stroke="#0f6e6e" stroke-width="2.5"/>')
    for d, v in pts:
        parts.append(
            f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="4" fill="#0f6e6e">'
            f"<title>{d.isoformat()}: {v:g}</title></circle>"
        )
    # Date labels on the first, last and (when there is room) other points. The first is
    # anchored at its start and the last at its end, so neither runs off the chart; a label
    # that would overlap another is left out.
    gap = 6
    end_x = x(pts[-1][0])
    last_left = end_x - DATE_LABEL_PX  # where the last point's label begins
    right = -1e9  # right edge of the label drawn before
    for i, (d, _) in enumerate(pts):
        xx = x(d)
        is_first, is_last = i == 0, i == len(pts) - 1
        if is_first:
            anchor, left = "start", xx
        elif is_last:
            anchor, left = "end", last_left
        else:
            anchor, left = "middle", xx - DATE_LABEL_PX / 2
        if not is_first and left < right + gap:
            continue
        if not (is_first or is_last) and left + DATE_LABEL_PX > last_left - gap:
            continue
        parts.append(
            f'<text x="{xx:.1f}" y="{HEIGHT - PAD_BOTTOM + 18}" text-anchor="{anchor}" '
            f'font-size="11" fill="#5b6b76">{d.isoformat()}</text>'
        )
        right = left + DATE_LABEL_PX
    parts.append("</svg>")
    return "".join(parts)
