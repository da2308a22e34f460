"""Small shared utilities: atomic I/O, rank-zero logging, run metadata."""
