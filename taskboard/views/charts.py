"""Charts: throughput, failure rate and wait/run time percentiles, drawn as inline SVG."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from taskboard import charts
from taskboard.views import dashboard_view

WIDTH, HEIGHT = 720, 180
PAD_LEFT, PAD_RIGHT, PAD_BOTTOM, PAD_TOP = 36, 40, 20, 8
# The width of one character of a tick label (10px monospace, .tick in operators.css), an
# upper bound, in the SVG's own units.
TICK_CHAR = 6.5
RANGE_LABELS = {"hour": "Last hour", "day": "Last day", "week": "Last week"}


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    y_ok: float
    h_ok: float
    y_bad: float
    h_bad: float
    label: str
    completed: int
    failed: int


def _nice_max(value: float) -> float:
    """Return a round axis maximum at or above ``value``."""
    if value <= 0:
        return 1
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if value <= step * factor:
            return step * factor
    return step * 10


def _tick(bar: Bar) -> dict:
    """Return a time label centred under ``bar``, kept whole inside the SVG at either edge."""
    centre = bar.x + bar.width / 2
    half = len(bar.label) * TICK_CHAR / 2
    if centre + half > WIDTH:
        return {"x": round(bar.x + bar.width, 2), "anchor": "end", "label": bar.label}
    if centre - half < 0:
        return {"x": round(bar.x, 2), "anchor": "start", "label": bar.label}
    return {"x": round(centre, 2), "anchor": "middle", "label": bar.label}


def throughput_chart(buckets: list[charts.Bucket], time_format: str) -> dict:
    """Return the geometry of the stacked throughput bars and the failure-rate line."""
    top = _nice_max(max((b.finished for b in buckets), default=0))
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / max(len(buckets), 1)
    bars, points = [], []
    for i, b in enumerate(buckets):
        x = PAD_LEFT + i * slot
        h_ok = plot_h * b.completed / top
        h_bad = plot_h * b.failed / top
        base = PAD_TOP + plot_h
        bars.append(
            Bar(
                x=round(x + slot * 0.1, 2),
                width=round(max(slot * 0.8, 1), 2),
                y_ok=round(base - h_ok, 2),
                h_ok=round(h_ok, 2),
                y_bad=round(base - h_ok - h_bad, 2),
                h_bad=round(h_bad, 2),
                label=b.start.strftime(time_format),
                completed=b.completed,
                failed=b.failed,
            )
        )
        if b.failure_rate is not None:
            y = PAD_TOP + plot_h * (1 - b.failure_rate)
            points.append(f"{x + slot / 2:.1f},{y:.1f}")
    every = max(len(bars) // 6, 1)
    ticks = [_tick(bar) for i, bar in enumerate(bars) if i % every == 0]
    return {
        "bars": bars,
        "rate_points": " ".join(points),
        "top": int(top),
        "mid": top / 2,
        "ticks": ticks,
        "width": WIDTH,
        "height": HEIGHT,
        "plot_left": PAD_LEFT,
        "plot_top": PAD_TOP,
        "plot_bottom": PAD_TOP + plot_h,
        "plot_mid": PAD_TOP + plot_h / 2,
        "plot_right": WIDTH - PAD_RIGHT,
        "rate_x": WIDTH - PAD_RIGHT + 4,
        "label_y": HEIGHT - 4,
    }


def times_rows(times: list[charts.NameTimes]) -> list[dict]:
    """Return each task name's percentiles with bar widths (percent of the slowest p95)."""
    slowest = max(
        (max(t.wait_p95 or 0, t.run_p95 or 0) for t in times),
        default=0,
    )
    scale = 100 / slowest if slowest else 0

    def pct(value: float | None) -> float:
        return round((value or 0) * scale, 2)

    return [
        {
            "t": t,
            "wait50": pct(t.wait_p50),
            "wait95": pct(t.wait_p95),
            "run50": pct(t.run_p50),
            "run95": pct(t.run_p95),
            "rate": None if t.failure_rate is None else round(100 * t.failure_rate, 1),
        }
        for t in times
    ]


@dashboard_view
@require_GET
@vary_on_headers("HX-Request")
def chart_page(request: HttpRequest) -> HttpResponse:
    """Show throughput, failure rate and time percentiles over the chosen range."""
    range_name = charts.parse_range(request.GET.get("range"))
    buckets = charts.throughput(user=request.user, range_name=range_name)
    times = charts.name_times(user=request.user, range_name=range_name)
    time_format = "%H:%M" if range_name != "week" else "%a %H:%M"
    completed = sum(b.completed for b in buckets)
    failed = sum(b.failed for b in buckets)
    context = {
        "range": range_name,
        "ranges": RANGE_LABELS,
        "range_label": RANGE_LABELS[range_name],
        "bucket_label": "minute" if range_name == "hour" else "hour",
        "buckets": buckets,
        "chart": throughput_chart(buckets, time_format),
        "time_format": "H:i" if range_name != "week" else "D H:i",
        "times": times_rows(times),
        "completed": completed,
        "failed": failed,
        "failure_rate": round(100 * failed / (completed + failed), 1)
        if completed + failed
        else None,
    }
    return render(request, "taskboard/tasks/charts.html", context)
