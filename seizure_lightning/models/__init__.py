"""Models of seizure-lightning (import submodules directly)."""
