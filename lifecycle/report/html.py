"""The report as one self-contained HTML page: a Jinja2 template (matrix, timelines, lists) and a pygal
SVG chart of the monthly cost, both inline. No script runs and nothing is fetched: the page carries a
Content-Security-Policy that forbids every network load, and pygal's inline config script (and comments) are
dropped with its own XML filter hook (the chart is static SVG; its tooltips would need that script)."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

# Lane packing: a version starts a new lane only when it overlaps every lane's last version.
_GAP_DAYS = 1


@cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lifecycle.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def _days(value: str) -> int:
    return date.fromisoformat(value[:10]).toordinal()


def _pct(value: float) -> str:
    return f"{max(0.0, min(100.0, value)):.2f}"


def _lanes(versions: list[dict[str, Any]], start: int, span: int) -> list[list[dict[str, Any]]]:
    """Bars for one image packed into lanes: positions are percentages of the common time axis."""
    bars = []
    end_of_axis = start + span
    for row in versions:
        if not row["published"]:
            continue
        begin = _days(row["published"])
        eol = _days(row["end_of_life"]) if row["end_of_life"] else None
        gone = _days(row["delete"]) if row["delete"] else None
        finish = gone or eol or end_of_axis
        finish = max(finish, begin + 1)
        solid = (eol if eol is not None else finish) - begin
        # Kept short: a big fleet has ten thousand of these (the page stays under 2 MB).
        title = f"{row['version']} {row['state']} | {row['published']}"
        title += f" | eol {row['end_of_life'] or 'none'} | delete {row['delete'] or 'never'}"
        bars.append(
            {
                "v": row["version"],
                "cls": row["class"],
                "begin": begin,
                "finish": finish,
                "left": _pct((begin - start) / span * 100),
                "width": _pct((finish - begin) / span * 100),
                "solid": f"{max(0.0, min(100.0, solid / (finish - begin) * 100)):.0f}",
                "open": not row["delete"],
                "title": title,
            }
        )
    lanes: list[list[dict[str, Any]]] = []
    ends: list[int] = []
    for bar in sorted(bars, key=lambda b: (b["begin"], b["v"])):
        for index, last in enumerate(ends):
            if last + _GAP_DAYS <= bar["begin"]:
                lanes[index].append(bar)
                ends[index] = bar["finish"]
                break
        else:
            lanes.append([bar])
            ends.append(bar["finish"])
    return lanes


def _ticks(start: int, span: int) -> list[dict[str, str]]:
    """Month or year ticks along the axis, at most about a dozen."""
    first, last = date.fromordinal(start), date.fromordinal(start + span)
    months = (last.year - first.year) * 12 + last.month - first.month
    step = max(1, -(-months // 12))
    ticks = []
    year, month = first.year, first.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        if (year - first.year) * 12 + month - first.month > months:
            break
        if ((year - first.year) * 12 + month - first.month) % step:
            continue
        at = date(year, month, 1)
        label = at.strftime("%Y-%m") if step < 12 else str(year)
        ticks.append({"left": _pct((at.toordinal() - start) / span * 100), "label": label})
    return ticks


def _cost_chart(cost: dict[str, Any], regions: list[str]) -> str:
    """Monthly cost per image, stacked by region: a pygal horizontal bar chart as inline SVG."""
    import pygal
    from pygal.style import Style

    per_image = [row for row in cost["per_image"] if row["total"] > 0]
    if not per_image:
        return ""
    style = Style(
        background="transparent",
        plot_background="transparent",
        font_family="system-ui, sans-serif",
        label_font_size=11,
        legend_font_size=11,
        major_label_font_size=11,
    )
    chart = pygal.HorizontalStackedBar(
        style=style,
        js=[],
        disable_xml_declaration=True,
        width=900,
        height=max(220, 60 + 22 * len(per_image)),
        legend_at_bottom=True,
        legend_at_bottom_columns=min(8, max(1, len(regions))),
        print_values=False,
        show_y_guides=False,
        x_title=f"{cost['currency']} per month (prices of {cost['prices_date']})",
        value_formatter=lambda v: f"{v:,.2f}",
        truncate_label=28,
    )
    chart.x_labels = [row["image"] for row in per_image]
    for region in regions:
        values = [row["regions"].get(region) for row in per_image]
        if any(values):
            chart.add(region, [v or None for v in values])
    chart.add_xml_filter(_without_scripts)
    svg: str = chart.render(is_unicode=True)
    return svg


def _without_scripts(root: Any) -> Any:
    """Drop pygal's config script and its comments (links to its site, the wall-clock render date)."""
    for parent in list(root.iter()):
        for child in list(parent):
            if callable(child.tag) or str(child.tag).rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return root


def render_html(report: dict[str, Any]) -> str:
    """The report data (from `build_report`) as one HTML page."""
    axis = report["axis"]
    start = _days(axis["start"]) - 7
    span = max(30, _days(axis["end"]) + 14 - start)
    images = []
    for image in report["images"]:
        images.append({**image, "lanes": _lanes(image["versions"], start, span)})
    today = _pct((_days(report["today"]) - start) / span * 100)
    template = _environment().get_template("report.html.j2")
    html: str = template.render(
        r=report,
        images=images,
        today_left=today,
        ticks=_ticks(start, span),
        cost_chart=_cost_chart(report["cost"], report["regions"]),
        cell_states=("Completed", "Replicating", "Failed", "missing"),
    )
    return html
