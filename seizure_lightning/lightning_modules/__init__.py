"""Modules of seizure-lightning (import submodules directly)."""
