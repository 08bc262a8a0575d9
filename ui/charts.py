"""Small dependency-free SVG charts (bars with 95% CI whiskers, counts, line curves) for gr.HTML.

Plain SVG keeps the UI free of matplotlib/plotly, renders the same in every browser (and in headless
Chromium screenshots), and carries the exact numbers as text and <title> tooltips.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ui.data.text import esc, is_num

PALETTE = ["#4f6bed", "#e8833a", "#2ca58d", "#c94f7c", "#8a6fdf", "#d4a72c", "#3a9bd9", "#7a8a99"]
_FONT = "font-family:ui-sans-serif,system-ui,sans-serif"


def _wrap(svg: str, height: int, width: int) -> str:
    return (f'<div class="th-chart" style="width:100%;overflow-x:auto">'
            f'<svg viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px;{_FONT}" '
            f'role="img" xmlns="http://www.w3.org/2000/svg">{svg}</svg></div>')


def empty(message: str) -> str:
    return f'<div class="th-empty" style="padding:12px 4px;color:#6b7280">{esc(message)}</div>'


def rate_bars(items: Sequence[Mapping[str, Any]], *, title: str = "", width: int = 900, label_width: int = 300,
              color_by: str | None = None, max_rows: int = 40) -> str:
    """Horizontal bars of rates in 0..1 with Wilson CI whiskers. items: label, value, lo, hi, [group], [n]."""
    items = [i for i in items if is_num(i.get("value"))][:max_rows]
    if not items:
        return empty("nothing to plot")
    groups: dict[str, str] = {}
    for i in items:
        g = str(i.get(color_by) if color_by else "")
        groups.setdefault(g, PALETTE[len(groups) % len(PALETTE)])
    row_h, top = 26, 34 if title else 12
    legend_h = 22 if color_by and len(groups) > 1 else 0
    plot_x0, plot_x1 = label_width, width - 70
    span = plot_x1 - plot_x0
    height = top + legend_h + row_h * len(items) + 28
    parts = []
    if title:
        parts.append(f'<text x="0" y="18" font-size="14" font-weight="600" fill="#1f2937">{esc(title)}</text>')
    if legend_h:
        x = plot_x0
        for g, c in groups.items():
            parts.append(f'<rect x="{x}" y="{top}" width="12" height="12" rx="2" fill="{c}"/>'
                         f'<text x="{x + 16}" y="{top + 10}" font-size="12" fill="#374151">{esc(g)}</text>')
            x += 28 + 7 * len(g)
    y0 = top + legend_h + 4
    # grid lines at 0, 25, 50, 75, 100 %
    for t in range(0, 101, 25):
        gx = plot_x0 + span * t / 100
        parts.append(f'<line x1="{gx:.1f}" y1="{y0 - 2}" x2="{gx:.1f}" y2="{y0 + row_h * len(items)}" '
                     f'stroke="#e5e7eb" stroke-width="1"/>'
                     f'<text x="{gx:.1f}" y="{y0 + row_h * len(items) + 16}" font-size="11" fill="#6b7280" '
                     f'text-anchor="middle">{t}%</text>')
    for n, i in enumerate(items):
        y = y0 + n * row_h
        v = max(0.0, min(1.0, float(i["value"])))
        color = groups[str(i.get(color_by) if color_by else "")]
        label = str(i.get("label") or "")
        shown = label if len(label) <= label_width // 7 else label[: label_width // 7 - 1] + "…"
        tip = f"{label}: {100 * v:.1f}%"
        lo, hi = i.get("lo"), i.get("hi")
        if is_num(lo) and is_num(hi):
            tip += f" (95% CI {100 * lo:.1f}–{100 * hi:.1f}%)"
        if i.get("n"):
            tip += f", n={i['n']}"
        parts.append(f'<g><title>{esc(tip)}</title>'
                     f'<text x="{label_width - 8}" y="{y + 16}" font-size="12.5" fill="#111827" '
                     f'text-anchor="end">{esc(shown)}</text>'
                     f'<rect x="{plot_x0}" y="{y + 4}" width="{span * v:.1f}" height="{row_h - 9}" rx="3" '
                     f'fill="{color}" fill-opacity="0.85"/>')
        if is_num(lo) and is_num(hi):
            x_lo = plot_x0 + span * max(0.0, min(1.0, float(lo)))
            x_hi = plot_x0 + span * max(0.0, min(1.0, float(hi)))
            cy = y + row_h / 2
            parts.append(f'<line x1="{x_lo:.1f}" y1="{cy:.1f}" x2="{x_hi:.1f}" y2="{cy:.1f}" stroke="#111827" '
                         f'stroke-width="1.5"/>'
                         f'<line x1="{x_lo:.1f}" y1="{cy - 5:.1f}" x2="{x_lo:.1f}" y2="{cy + 5:.1f}" '
                         f'stroke="#111827" stroke-width="1.5"/>'
                         f'<line x1="{x_hi:.1f}" y1="{cy - 5:.1f}" x2="{x_hi:.1f}" y2="{cy + 5:.1f}" '
                         f'stroke="#111827" stroke-width="1.5"/>')
        text_x = plot_x0 + span * max(v, float(hi) if is_num(hi) else v) + 6
        parts.append(f'<text x="{text_x:.1f}" y="{y + 16}" font-size="12" fill="#374151">{100 * v:.1f}%</text></g>')
    return _wrap("".join(parts), height, width)


def count_bars(items: Sequence[Mapping[str, Any]], *, title: str = "", width: int = 900, label_width: int = 240,
               color: str = "#c94f7c", max_rows: int = 30) -> str:
    """Horizontal bars of counts. items: label, value, [tip]."""
    items = [i for i in items if is_num(i.get("value"))][:max_rows]
    if not items:
        return empty("no violations")
    vmax = max(float(i["value"]) for i in items) or 1.0
    row_h, top = 26, 34 if title else 8
    plot_x0, plot_x1 = label_width, width - 70
    span = plot_x1 - plot_x0
    height = top + row_h * len(items) + 10
    parts = []
    if title:
        parts.append(f'<text x="0" y="18" font-size="14" font-weight="600" fill="#1f2937">{esc(title)}</text>')
    for n, i in enumerate(items):
        y = top + n * row_h
        v = float(i["value"])
        label = str(i.get("label") or "")
        tip = str(i.get("tip") or f"{label}: {v:g}")
        parts.append(f'<g><title>{esc(tip)}</title>'
                     f'<text x="{label_width - 8}" y="{y + 16}" font-size="12.5" fill="#111827" '
                     f'text-anchor="end">{esc(label)}</text>'
                     f'<rect x="{plot_x0}" y="{y + 4}" width="{max(1.0, span * v / vmax):.1f}" height="{row_h - 9}" '
                     f'rx="3" fill="{color}" fill-opacity="0.8"/>'
                     f'<text x="{plot_x0 + span * v / vmax + 6:.1f}" y="{y + 16}" font-size="12" fill="#374151">'
                     f'{v:,.0f}</text></g>')
    return _wrap("".join(parts), height, width)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.floor(lo / step) * step
    out, t = [], start
    while t <= hi + step * 1e-9:
        if t >= lo - step * 1e-9:
            out.append(round(t, 10))
        t += step
    return out


def line_chart(points: Sequence[tuple[float, float]], *, title: str = "", x_label: str = "", y_label: str = "",
               width: int = 900, height: int = 280, y_range: tuple[float, float] | None = None,
               percent: bool = False, color: str = "#4f6bed", baseline: float | None = None) -> str:
    """A line with markers (loss per step, held-out pass rate per round)."""
    pts = [(float(x), float(y)) for x, y in points if is_num(x) and is_num(y)]
    if not pts:
        return empty("no data yet")
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y_range:
        y0, y1 = y_range
    else:
        y0, y1 = min(ys + ([baseline] if is_num(baseline) else [])), max(ys + ([baseline] if is_num(baseline) else []))
        pad = (y1 - y0) * 0.08 or abs(y1) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad
        if min(ys) >= 0 and y0 < 0:
            y0 = 0.0
    top = 34 if title else 12
    left, right, bottom = 64, 24, 40
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + pw * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        return top + ph * (1 - (y - y0) / (y1 - y0))

    parts = []
    if title:
        parts.append(f'<text x="0" y="18" font-size="14" font-weight="600" fill="#1f2937">{esc(title)}</text>')
    for t in _nice_ticks(y0, y1):
        parts.append(f'<line x1="{left}" y1="{sy(t):.1f}" x2="{width - right}" y2="{sy(t):.1f}" stroke="#e5e7eb"/>'
                     f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" font-size="11" fill="#6b7280" text-anchor="end">'
                     f'{(f"{100 * t:.0f}%" if percent else f"{t:.3g}")}</text>')
    for t in _nice_ticks(x0, x1, 6):
        parts.append(f'<text x="{sx(t):.1f}" y="{top + ph + 16}" font-size="11" fill="#6b7280" '
                     f'text-anchor="middle">{t:g}</text>')
    if x_label:
        parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" font-size="12" fill="#374151" '
                     f'text-anchor="middle">{esc(x_label)}</text>')
    if y_label:
        parts.append(f'<text x="12" y="{top + ph / 2:.1f}" font-size="12" fill="#374151" text-anchor="middle" '
                     f'transform="rotate(-90 12 {top + ph / 2:.1f})">{esc(y_label)}</text>')
    if is_num(baseline):
        parts.append(f'<line x1="{left}" y1="{sy(baseline):.1f}" x2="{width - right}" y2="{sy(baseline):.1f}" '
                     f'stroke="#9ca3af" stroke-dasharray="5 4"/>'
                     f'<text x="{width - right}" y="{sy(baseline) - 4:.1f}" font-size="11" fill="#6b7280" '
                     f'text-anchor="end">before: {(f"{100 * baseline:.1f}%" if percent else f"{baseline:.3g}")}</text>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(pts))
    parts.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    if len(pts) <= 60:
        for x, y in pts:
            val = f"{100 * y:.1f}%" if percent else f"{y:.4g}"
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}">'
                         f'<title>{esc(x_label or "x")} {x:g}: {val}</title></circle>')
    return _wrap("".join(parts), height, width)


def progress_bar(done: int, total: int | None, *, label: str = "") -> str:
    frac = (done / total) if total else None
    w = f"{100 * min(1.0, frac):.1f}%" if frac is not None else "100%"
    bar_color = "#4f6bed" if frac is not None else "#c7d2fe"
    text = f"{done:,} / {total:,}" if total else f"{done:,}"
    if frac is not None:
        text += f" ({100 * frac:.0f}%)"
    return (f'<div class="th-progress" style="margin:6px 0">'
            f'<div style="font-size:13px;color:#374151;margin-bottom:4px">{esc(label)} {esc(text)}</div>'
            f'<div style="background:#e5e7eb;border-radius:6px;height:12px;overflow:hidden">'
            f'<div style="width:{w};background:{bar_color};height:12px"></div></div></div>')


__all__ = ["PALETTE", "count_bars", "empty", "line_chart", "progress_bar", "rate_bars"]
