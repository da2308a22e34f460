"""Evaluation: LOSO folds and leakage guards, window->video aggregation, metrics."""
