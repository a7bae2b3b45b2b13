"""Grading stage: is a response's final answer equal to the gold answer?

`anchors` finds where a response states its answer; `verdict` decides (an ordered tuple of
named rules, `JUDGE_RULES`), reading answers as text (`text`) and with Math-Verify (`parse`),
and comparing them where Math-Verify is measured wrong (`compare`, `COMPARE_RULES`); `grade`
runs that over datasets in a killable worker pool, and `audit` checks the golds themselves.
"""
