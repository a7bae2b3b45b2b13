"""`dart-hf build`: DART-Math datasets from a query pool.

`run` is the command (settings, resume, the rounds, then the releases); `rounds` advances a
build by one round (schedule, sample and grade, count, stop rules, save), also for `regrade`'s
replay; `majority` gives golds by vote where the pool has none; `assemble` selects each
release's rows; `schema` declares the release columns; `stats`, `plots` and `cards` are what
a release shows; `regrade` grades a finished build again with the current grader.
"""
