"""dart-hf: DART-Math (difficulty-aware rejection tuning) on Hugging Face datasets."""

__version__ = "0.1.0"
"""The one place the version is written (pyproject.toml reads it; the Hub's User-Agent sends it)."""
