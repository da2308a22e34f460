"""``python -m seizure_lightning.report PREDICTIONS.csv --out DIR``."""

from seizure_lightning.report import main

if __name__ == "__main__":
    raise SystemExit(main())
