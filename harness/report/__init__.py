"""Reports: records → self-contained HTML (plotly) + Markdown summary."""
from harness.report.html import write_report

__all__ = ["write_report"]
