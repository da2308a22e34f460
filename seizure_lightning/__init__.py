"""seizure-lightning: Lightning + Hydra framework for video-based seizure analysis.

Self-supervised denoising pre-training of a Transformer on unlabeled EMU video,
ES vs PNES fine-tuning, leave-one-subject-out validation and a paper-ready report.
"""

__version__ = "0.1.0"
