"""The reports: ``metrics.json``, ``report.md`` and PNG plots from a predictions table
(``writer.py``); a LOSO sweep's reports, ``comparisons.json``, ``summary.md`` and
``summary.png`` (``sweep.py``); the demo table (``table.py``); several sweeps pooled
(``pooled.py``); one number / CI format for all of them (``format.py``).

``python -m seizure_lightning.report PREDICTIONS.csv --out DIR [--windows WINDOWS.csv]
[--n-boot N] [--seed S] [--title TEXT]`` (console script ``seizure-lightning-report``);
``python -m seizure_lightning.report.table ROOT``; ``python -m seizure_lightning.report.pooled
SWEEP SWEEP ...``.
"""

from seizure_lightning.report.writer import main, write_report, write_sweep_report

__all__ = ["main", "write_report", "write_sweep_report"]
