"""The evaluation report: ``metrics.json``, ``report.md`` and PNG plots from a predictions table.

``python -m seizure_lightning.report PREDICTIONS.csv --out DIR [--windows WINDOWS.csv]
[--n-boot N] [--seed S] [--title TEXT]`` (console script ``seizure-lightning-report``).
"""

from seizure_lightning.report.writer import main, write_report, write_sweep_report

__all__ = ["main", "write_report", "write_sweep_report"]
