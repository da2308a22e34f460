"""How Lightning runs the modules: the Trainer, checkpoints and resume, loggers, and inference
from window probabilities to video predictions."""
