"""Numbers of the method (docs/method_to_code.md) that several modules share."""

from __future__ import annotations

LABELS: tuple[str, str] = ("ES", "PNES")
LABEL_TO_INDEX: dict[str, int] = {"ES": 0, "PNES": 1}
FPS: float = 25.0
CLIP_SECONDS: float = 10.0
WINDOW: int = 256
RESIZE_HW: tuple[int, int] = (128, 171)
CROP: int = 112
MASK_VALUE: float = -1.0
PAD_VALUE: float = 0.0
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
