"""Small server-side SVG charts for the staff dashboard.

Why not a JavaScript library: the CSP allows no external or inline script, and the console
must work without JavaScript. Why not inline ``style``: the CSP forbids it too, so colours are
SVG presentation attributes (``fill=``, ``stroke=``), which CSP does not govern.

Each chart is accessible on its own (``role="img"``, ``<title>``, ``<desc>``); the pages also
print the same numbers in a table for screen readers and for copying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from markupsafe import Markup

# Distinguishable for the common colour-blindnesses (Okabe–Ito), dark enough on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
FONT = "font-family=\"system-ui, sans-serif\" font-size=\"12\""


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def _num(value: float) -> str:
    """Short, locale-free coordinates: 12.5 not 12.500000001."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _label(value: float) -> str:
    return f"{int(value):,}".replace(",", ".") if float(value).is_integer() else f"{value:.1f}"


def nice_max(value: float) -> float:
    """The axis top: the smallest 1/2/5 × 10^n at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)  # pragma: no cover - the loop always returns


def _open(width: int, height: int, title: str, desc: str, ident: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{ident}-t {ident}-d">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc)}</desc>',
    ]


def line_chart(labels: Sequence[str], series: Sequence[Series], *, title: str, desc: str = "",
               ident: str = "chart", width: int = 640, height: int = 260,
               y_label: str = "") -> Markup:
    """One line per series over the ``labels`` (x axis, e.g. days), with a y axis from 0,
    gridlines and a legend. Empty data gives an empty frame, never an error."""
    left, right, top, bottom = 52, 28, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = nice_max(max((v for s in series for v in s.values), default=0))
    n = len(labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / top_value

    parts = _open(width, height, title, desc, ident)
    parts.append(f'<g {FONT} fill="#444">')
    # Whole-number gridlines: 1/2/5 × 10^n split into 5, 4, 2 or 1 equal steps.
    steps = next(s for s in (5, 4, 2, 1) if (top_value / s).is_integer())
    for k in range(steps + 1):
        value = top_value * k / steps
        yy = _num(y(value))
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{yy}" y2="{yy}" '
                     f'stroke="#ddd" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{yy}" text-anchor="end" '
                     f'dominant-baseline="middle">{escape(_label(value))}</text>')
    every = max(1, -(-n // 10))  # at most ~10 x labels
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            parts.append(f'<text x="{_num(x(i))}" y="{height - bottom + 16}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    if y_label:
        parts.append(f'<text x="12" y="{top + plot_h / 2:.0f}" text-anchor="middle" '
                     f'transform="rotate(-90 12 {top + plot_h / 2:.0f})">{escape(y_label)}</text>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#888"/>')
    parts.append("</g>")
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(f"{_num(x(i))},{_num(y(v))}" for i, v in enumerate(s.values[:n]))
        if points:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{points}"><title>{escape(s.name)}</title></polyline>')
            for i, v in enumerate(s.values[:n]):
                parts.append(f'<circle cx="{_num(x(i))}" cy="{_num(y(v))}" r="2.5" '
                             f'fill="{colour}"><title>{escape(labels[i])}: '
                             f'{escape(_label(v))}</title></circle>')
        lx = left + index * 160
        parts.append(f'<g {FONT} fill="#222"><rect x="{lx}" y="{height - 18}" width="12" '
                     f'height="12" fill="{colour}"/><text x="{lx + 18}" y="{height - 8}">'
                     f'{escape(s.name)}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, desc: str = "",
              ident: str = "bars", width: int = 640, bar_height: int = 22,
              empty: str = "") -> Markup:
    """Horizontal bars, one per (label, value), longest scaled to the width; the value is
    written at the end of each bar. Labels are cut at 30 characters (the full text stays in
    the bar's tooltip and in the page's table)."""
    label_w, gap = 220, 6
    height = max(1, len(items)) * (bar_height + gap) + gap
    top_value = max((v for _, v in items), default=0) or 1
    plot_w = width - label_w - 60
    parts = _open(width, height, title, desc, ident)
    parts.append(f'<g {FONT} fill="#222">')
    if not items and empty:
        parts.append(f'<text x="4" y="{bar_height}">{escape(empty)}</text>')
    for i, (label, value) in enumerate(items):
        yy = gap + i * (bar_height + gap)
        short = label if len(label) <= 30 else label[:29] + "…"
        length = max(1.0, plot_w * value / top_value) if value else 0.0
        parts.append(f'<text x="{label_w - 8}" y="{yy + bar_height / 2:.0f}" text-anchor="end" '
                     f'dominant-baseline="middle">{escape(short)}</text>')
        parts.append(f'<rect x="{label_w}" y="{yy}" width="{_num(length)}" '
                     f'height="{bar_height}" fill="{PALETTE[0]}"><title>{escape(label)}: '
                     f'{escape(_label(value))}</title></rect>')
        parts.append(f'<text x="{label_w + length + 6:.1f}" y="{yy + bar_height / 2:.0f}" '
                     f'dominant-baseline="middle">{escape(_label(value))}</text>')
    parts.append("</g></svg>")
    return Markup("".join(parts))


def share_bar(part: int, whole: int, *, title: str, ident: str = "share",
              width: int = 320, height: int = 20) -> Markup:
    """A single proportion (e.g. second-factor adoption) as a filled bar."""
    ratio = part / whole if whole else 0.0
    parts = _open(width, height, title, f"{part} / {whole} ({ratio:.0%})", ident)
    parts.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#e6e6e6"/>')
    parts.append(f'<rect x="0" y="0" width="{_num(width * ratio)}" height="{height}" '
                 f'fill="{PALETTE[2]}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


__all__ = ["PALETTE", "Series", "bar_chart", "line_chart", "nice_max", "share_bar"]
