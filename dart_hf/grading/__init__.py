"""Grading stage: is a response's final answer equal to the gold answer?

`anchors` finds where a response states its answer, `answers` reads and compares answers
(Math-Verify first, then named rules), `grade` runs that over datasets in a killable worker
pool, and `audit` checks the golds themselves.
"""
