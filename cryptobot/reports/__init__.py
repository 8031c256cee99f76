"""Daily, weekly and monthly reports: one self-contained HTML page each (``cryptobot report``).

``build_report(settings, period, day)`` reads the warehouse (and the MLflow registry for
validation accuracy) and writes ``<reports_dir>/<period>-<YYYY-MM-DD>.html``.
"""

from cryptobot.reports.build import Report, build_report, headline_text
from cryptobot.reports.window import PERIODS, Window, report_window

__all__ = ["PERIODS", "Report", "Window", "build_report", "headline_text", "report_window"]
