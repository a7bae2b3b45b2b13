"""`dart-hf eval`: a model on the math benchmarks.

`run` samples every benchmark and seed (resumable, through the sampling stage) and grades the
predictions; `results` turns them into accuracy tables, pass@k and maj@k (`passk`) and the
evaluation card.
"""
