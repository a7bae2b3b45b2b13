"""dart-hf: DART-Math (difficulty-aware rejection tuning) on Hugging Face datasets."""

__version__ = "0.1.0"
