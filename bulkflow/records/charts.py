"""The HTML report's charts as inline SVG, drawn from numbers and the fixed status names only.

Nothing else from a log reaches them, so the page can take their markup as it is: a status is
drawn only when it is one of :data:`STATUSES` (any other key of the counts is left out).
"""

from __future__ import annotations

from collections.abc import Mapping

from bulkflow.records.resultlog import STATUSES, Status

COLOURS: dict[Status, str] = {
    Status.UPDATED: "#2e7d32",
    Status.UNCHANGED: "#78909c",
    Status.PLANNED: "#1565c0",
    Status.STALE: "#ef6c00",
    Status.FAILED: "#c62828",
}


def status_chart(counts: Mapping[str, int], width: int = 420) -> str:
    """Horizontal bars, one per status of :data:`STATUSES` counted, as inline SVG."""
    rows = [(s, counts.get(s, 0)) for s in STATUSES if counts.get(s)]
    top = max((n for _, n in rows), default=1)
    bar_h, label_w = 24, 90
    parts = [
        f"<svg role='img' aria-label='targets per status' width='{width}' height='{len(rows) * (bar_h + 8) + 8}' xmlns='http://www.w3.org/2000/svg'>"
    ]
    for i, (status, n) in enumerate(rows):
        y = 8 + i * (bar_h + 8)
        w = max(2, (width - label_w - 60) * n / top)
        parts.append(f"<text x='0' y='{y + 17}' font-size='13'>{status}</text>")
        parts.append(
            f"<rect x='{label_w}' y='{y}' width='{w:.1f}' height='{bar_h}' fill='{COLOURS[status]}'/>"
        )
        parts.append(f"<text x='{label_w + w + 6:.1f}' y='{y + 17}' font-size='13'>{n:,}</text>")
    return "".join(parts) + "</svg>"


def latency_histogram(
    durations_ms: list[float], bins: int = 20, width: int = 420, height: int = 160
) -> str:
    """A histogram of per-target durations as inline SVG."""
    if not durations_ms:
        return "<p>No timings.</p>"
    low, high = min(durations_ms), max(durations_ms)
    span = (high - low) or 1.0
    counts = [0] * bins
    for value in durations_ms:
        counts[min(bins - 1, int((value - low) / span * bins))] += 1
    top = max(counts)
    bar_w = (width - 40) / bins
    parts = [
        f"<svg role='img' aria-label='latency histogram' width='{width}' height='{height + 30}' xmlns='http://www.w3.org/2000/svg'>"
    ]
    for i, n in enumerate(counts):
        h = (height - 10) * n / top
        parts.append(
            f"<rect x='{30 + i * bar_w:.1f}' y='{height - h:.1f}' width='{bar_w - 2:.1f}' height='{h:.1f}' fill='#1565c0'><title>{n}</title></rect>"
        )
    parts.append(f"<line x1='30' y1='{height}' x2='{width - 10}' y2='{height}' stroke='#333'/>")
    parts.append(f"<text x='30' y='{height + 18}' font-size='12'>{low:.0f} ms</text>")
    parts.append(
        f"<text x='{width - 10}' y='{height + 18}' font-size='12' text-anchor='end'>{high:.0f} ms</text>"
    )
    parts.append(f"<text x='0' y='14' font-size='12'>{top}</text>")
    return "".join(parts) + "</svg>"
