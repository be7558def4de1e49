"""The fleet report: what the gallery fleet looks like, as data (`build_report`, pure) and as one
self-contained HTML page (`render_html`: a Jinja2 template with a pygal chart, nothing fetched from the
network). The engine decides nothing here; the report only shows what a reconcile read and planned."""

from lifecycle.report.data import ImageInput, build_report, merge_reports
from lifecycle.report.html import render_html

__all__ = ["ImageInput", "build_report", "merge_reports", "render_html"]
