"""Final-answer verdicts: Math-Verify first, a few named rules where it is measured wrong.

A verdict is decided in this order (`judge`); `Verdict.source` names what decided it:

1. `bad_gold`: the gold is empty, or neither Math-Verify nor a text rule can read it. Only the
   gold can make a row `bad_gold`; a prediction never does.
2. `unclosed_box`: the response's last `\\boxed{` is never closed (its final answer was cut):
   `no_answer`.
3. `hedge` / `multi_box`: the response boxes several distinct final answers (a repeated box
   of the same answer is one answer). That is a hedge, wrong, with status `hedge`, unless
   the gold is a set, tuple or list whose elements are exactly those answers (`multi_box`).
4. Rules for benchmark formats that Math-Verify does not read (each small and tested with the
   case that needs it): TheoremQA booleans (`bool_answer`) and options (`option_answer`);
   OlympiadBench multi-answer golds, order-free (`multi_answer`); element-wise lists
   (`list_answer`); word answers such as "converges", "odd", "Evelyn" that Math-Verify reads
   as products of symbols (`word_answer`); clock times (`clock_time`); CollegeMath golds that
   are sentences, matched as text only (`text_match`).
5. `math_verify`: the response is parsed with Math-Verify's own extraction (LaTeX with boxed
   answers first, then plain expressions; strings for option benchmarks), the gold as
   `$gold$`, and `verify(gold, pred)` decides. Integers are compared exactly (Math-Verify's
   own behaviour). Where the benchmark defines a numeric tolerance (TheoremQA: 4% relative for
   floats; OlympiadBench: the row's `error`), two numbers within it are equal
   (`tolerance`). A number in E-notation (`3.54e-07`), which Math-Verify reads as
   `3.54 * e - 7`, is read as `3.54 \\times 10^{-7}` (`e_notation`). An extracted answer
   with unbalanced brackets (`\\boxed{\\left( 2 + 3 }`) is malformed and wrong
   (`malformed_answer`). Mixed numbers (`1\\frac{4}{5}`, `4 4/9`) are read as sums
   (`mixed_number`; Math-Verify 0.9 reads them as products). A gold with one `\\pm` also
   matches the set of its two values (`plus_minus`). An unboxed answer that Math-Verify took
   from the head of an equation chain ("is 32 + 8 = 18 + 16 = 24.") is the chain's last value
   (`equation_chain`).

Everything here is pure computation; the grading pool (`dart_hf.grading.grade`) runs it in worker
processes under a hard wall-clock limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dart_hf.benchmarks import AnswerRules, rules_for
from dart_hf.grading.anchors import Anchor, final_anchor, final_boxes, last_boxed, unclosed_box
from dart_hf.grading.compare import equation_chain_end, judge_one, percent_latex
from dart_hf.grading.parse import (
    LETTER_OPTIONS,
    PAREN_OPTIONS,
    Ctx,
    GoldTimeout,
    distinct_answers,
    equal_answers,
    match_all,
    mixed_numbers,
    parse_gold,
    parse_response,
    verify_equal,
)
from dart_hf.grading.text import (
    answer_elements,
    is_prose,
    normalize_text,
    same_text,
    strip_math_delimiters,
    to_bool,
    to_minutes,
    to_option,
    to_words,
)

#: Every `grade_status`: `ok` (graded), `no_answer` (no final answer found), `hedge` (several
#: distinct final answers), `timeout` (grading passed its wall-clock limit), `error` (the
#: grader failed on the row), `truncated` (cut at max_tokens), `bad_gold` (gold unreadable),
#: `failed` (the engine returned no completion: a served model's 400, an aborted request).
#: `bad_gold` and `failed` rows are left out of accuracy; every other status counts as graded.
STATUSES = ("ok", "no_answer", "hedge", "timeout", "error", "truncated", "bad_gold", "failed")
UNGRADED = frozenset({"bad_gold", "failed"})
"""Statuses of rows that are left out of accuracy (no verdict on the model's answer)."""


def accuracy(correct: Sequence[bool | None], statuses: Sequence[str]) -> tuple[int, int, float | None]:
    """The one accuracy rule: `(graded, right, right / graded)` over rows' verdicts, where
    `bad_gold` rows (gold unreadable) and `failed` ones (no completion) are left out and the
    accuracy is None when none is left.
    """
    graded = [c for c, s in zip(correct, statuses, strict=True) if s not in UNGRADED]
    right = sum(1 for c in graded if c is True)
    return len(graded), right, (right / len(graded) if graded else None)


#: Every `verdict_source`: what decided a row (see the module docstring).
VERDICT_SOURCES = (
    "math_verify",
    "tolerance",
    "malformed_answer",
    "hedge",
    "multi_box",
    "unclosed_box",
    "no_answer",
    "bool_answer",
    "option_answer",
    "multi_answer",
    "list_answer",
    "word_answer",
    "clock_time",
    "text_match",
    "e_notation",
    "mixed_number",
    "plus_minus",
    "equation_chain",
    "answer_section",
    "hash_answer",
    "json_answer",
    "answer_line",
    "answer_phrase",
    "unanchored",
    "no_anchor",
    "compound_quantity",
    "unit_variable",
    "percent",
    "set_builder",
    "binomial",
    "clock_hour",
    "truncated",
    "bad_gold",
    "timeout",
    "error",
    "engine",
)


@dataclass(frozen=True)
class Verdict:
    """Outcome of grading one item: the extracted answer, correctness, status and decider.

    `detail` names the comparison or format rule behind an `unanchored` verdict (whose source
    only says that no answer was stated); reports read it, the stored columns do not.
    """

    pred: str | None
    correct: bool | None
    status: str
    source: str = "math_verify"
    detail: str = ""


# --------------------------------------------------------------------------- judge


@dataclass(frozen=True)
class _Item:
    """One response under judgement: what every rule of `JUDGE_RULES` reads."""

    response: str
    golds: list[str]
    kind: str
    rules: AnswerRules
    ctx: Ctx
    multi_answer: bool
    require_anchor: bool
    anchor: Anchor | None
    boxes: list[str]


@dataclass(frozen=True)
class JudgeRule:
    """A named step of `judge`: returns the verdict, or None to let the next rule decide."""

    name: str
    decide: Callable[[_Item], Verdict | None]


def judge(
    response: str,
    gold: str | None,
    *,
    answers: list[str] | None = None,
    answer_type: str | None = None,
    multi_answer: bool = False,
    unit: str | None = None,
    tolerance: float | None = None,
    benchmark: str | None = None,
    timeout: int = 5,
    require_anchor: bool = False,
) -> Verdict:
    """Grade one response against its gold answer.

    The steps are `JUDGE_RULES`, in order; the first that returns a verdict decides.

    Args:
        response: The model's full response text.
        gold: Gold final answer as text.
        answers: Every accepted gold answer (OlympiadBench `final_answer`); defaults to `[gold]`.
        answer_type: TheoremQA/OlympiadBench answer type ("bool", "list of float", "Tuple", ...).
        multi_answer: All gold answers must be given (order-free) instead of any one.
        unit: A unit that may follow the predicted answer (Math-Verify removes units itself).
        tolerance: Absolute numeric tolerance (OlympiadBench `error`).
        benchmark: A name in `benchmarks.BENCHMARKS`; other names use the default rules.
        timeout: Seconds for Math-Verify's own (signal-based) timeouts.
        require_anchor: A response must state its answer (`anchors`): one that does not is
            `no_answer` (`no_anchor`) instead of read by Math-Verify's unanchored extraction.

    Returns:
        A `Verdict`; `correct` is None only for `bad_gold`.
    """
    del unit  # Math-Verify's unit normalisation removes trailing units
    golds = [str(a) for a in (answers or []) if a is not None and str(a).strip()]
    if not golds and gold is not None and str(gold).strip():
        golds = [str(gold)]
    if not golds or not any(normalize_text(g) for g in golds):
        return Verdict(last_boxed(response), None, "bad_gold", "bad_gold")
    rules = rules_for(benchmark)
    kind = (answer_type or "").lower()
    ctx = Ctx(
        rel_tol=rules.float_rel_tol if kind in {"", "float", "list of float"} else None,
        abs_tol=tolerance if tolerance is not None and tolerance > 0 else None,
        timeout=timeout,
    )
    anchor = None if unclosed_box(response) else final_anchor(response)
    boxes = final_boxes(response) if anchor is not None and anchor.kind == "boxed" else []
    item = _Item(response, golds, kind, rules, ctx, multi_answer, require_anchor, anchor, boxes)
    try:
        for rule in JUDGE_RULES:
            verdict = rule.decide(item)
            if verdict is not None:
                return verdict
    except GoldTimeout:  # out of time (a huge prediction): says nothing of the gold
        return Verdict(last_boxed(response), False, "timeout", "timeout")
    raise AssertionError("the last rule of JUDGE_RULES always decides")  # pragma: no cover


def _rule_unclosed_box(item: _Item) -> Verdict | None:
    """The last `\\boxed{` never closes: its final answer was cut."""
    if unclosed_box(item.response):
        return Verdict(None, False, "no_answer", "unclosed_box")
    return None


def _rule_no_anchor(item: _Item) -> Verdict | None:
    """Where an anchored answer is required, a response without any anchor states none."""
    if item.anchor is None and item.require_anchor:
        return Verdict(None, False, "no_answer", "no_anchor")
    return None


def _rule_format(item: _Item) -> Verdict | None:
    """Golds Math-Verify does not read (booleans, options, times, words, sentences)."""
    rule = _format_rule(item.golds[0], item.kind, item.rules)
    return None if rule is None else _judge_by_rule(rule, item)


def _rule_hedge(item: _Item) -> Verdict | None:
    """Several distinct final boxes: a hedge, unless the gold is the set of them."""
    distinct = distinct_answers(item.boxes, item.ctx) if len(item.boxes) > 1 else item.boxes
    if len(distinct) <= 1:
        return None
    pred = " ; ".join(distinct)
    gold_elems = _gold_elements(item.golds, item.multi_answer)
    if len(gold_elems) > 1 and match_all(gold_elems, distinct, item.ctx):
        return Verdict(pred, True, "ok", "multi_box")
    return Verdict(pred, False, "hedge", "hedge")


def _rule_text_match(item: _Item) -> Verdict | None:
    """The gold written out again in the final box or anchor: equal, and 20x cheaper (named
    `text_match` for a box, the anchor's kind for a text anchor)."""
    if item.boxes:
        stated, source = item.boxes[-1], "text_match"
    elif item.anchor is not None and item.anchor.value is not None:
        stated, source = item.anchor.value, item.anchor.kind
    else:
        return None
    if any(same_text(stated, g) for g in item.golds):
        return Verdict(stated, True, "ok", source)
    return None


def _rule_compound_quantity(item: _Item) -> Verdict | None:
    """ "18 hours and 48 minutes": read whole (in each of its units), or no answer at all."""
    a = item.anchor
    if a is None or a.kind == "boxed" or a.value is not None:
        return None
    if not a.compound:  # a compound of units that are not read whole
        return Verdict(a.clause, False, "no_answer", "compound_quantity")
    ok = any(equal_answers(g, v, item.ctx) for g in item.golds for v in a.compound)
    return Verdict(a.clause, ok, "ok", "compound_quantity")


def _rule_answer(item: _Item) -> Verdict:
    """The final answer compared with each gold (`COMPARE_RULES`)."""
    a, ctx, golds = item.anchor, item.ctx, item.golds
    chain_end = None
    if a is not None and a.kind != "boxed" and a.value is not None:
        pred = a.value
        parsed: Any = parse_gold(percent_latex(pred), ctx.timeout)
        found = a.kind
        if not parsed:
            return Verdict(pred, False, "ok", found)
    else:
        parsed, extracted = parse_response(item.response, ctx.timeout, options=item.rules.options)
        if extracted is None or not extracted.strip():
            return Verdict(None, False, "no_answer", "no_answer")
        pred = extracted
        found = "math_verify" if a is not None else "unanchored"
        chain_end = None if a is not None else equation_chain_end(item.response, extracted)
        if chain_end is not None:  # "32 + 8 + 4 + 4 = 18 + 8 + 16 = 24." read as its head
            reparsed = parse_gold(chain_end, ctx.timeout)
            if reparsed:
                parsed, pred = reparsed, chain_end

    if item.multi_answer:
        gold_elems = _gold_elements(golds, True)
        if match_all(gold_elems, answer_elements(pred), ctx):
            return Verdict(pred, True, "ok", "multi_answer")
        # `y = \\pm c` against the gold elements `c, -c`: Math-Verify reads both as one set
        whole = parse_gold(", ".join(gold_elems), ctx.timeout)
        ok = bool(whole) and verify_equal(whole, parsed, ctx.timeout)
        return Verdict(pred, ok, "ok", found if ok else "multi_answer")
    if item.kind.startswith("list"):
        # Math-Verify reads "The answer is [2, 2]." as 2: take the box or the answer's clause
        if item.boxes:
            pred = item.boxes[-1]
        elif a is not None:
            pred = a.clause
        g_elems, p_elems = answer_elements(golds[0]), answer_elements(pred)
        if len(g_elems) > 1:
            ok = len(g_elems) == len(p_elems) and all(
                equal_answers(g, p, ctx) for g, p in zip(g_elems, p_elems, strict=True)
            )
            return Verdict(pred, ok, "ok", "list_answer")

    box = item.boxes[-1] if item.boxes else None
    texts = {normalize_text(pred)} | ({normalize_text(box)} if box else set())
    unreadable = 0
    for g in golds:
        verdict, source = judge_one(g, parsed, pred, box, ctx)
        if source == "math_verify":
            if verdict and mixed_numbers(f"{g} {pred}") != f"{g} {pred}":
                source = "mixed_number"
            elif chain_end is not None and pred == chain_end:
                source = "equation_chain"
            else:
                source = found
        if not verdict and normalize_text(g) in texts:  # the gold's own text, unparsed
            return Verdict(pred, True, "ok", "text_match")
        if verdict:
            if a is None:
                return Verdict(pred, True, "ok", "unanchored", source.replace(found, ""))
            return Verdict(pred, True, "ok", source)
        if verdict is None:
            unreadable += 1
        elif source not in (found, "equation_chain"):
            if a is None:
                return Verdict(pred, False, "ok", "unanchored", source.replace(found, ""))
            return Verdict(pred, False, "ok", source)
    if unreadable == len(golds):
        return Verdict(pred, None, "bad_gold", "bad_gold")
    return Verdict(pred, False, "ok", found)


#: The steps of `judge`, in order (after `bad_gold`: only the gold can make a row that).
JUDGE_RULES: tuple[JudgeRule, ...] = (
    JudgeRule("unclosed_box", _rule_unclosed_box),
    JudgeRule("no_anchor", _rule_no_anchor),
    JudgeRule("format", _rule_format),
    JudgeRule("hedge", _rule_hedge),
    JudgeRule("text_match", _rule_text_match),
    JudgeRule("compound_quantity", _rule_compound_quantity),
    JudgeRule("answer", _rule_answer),
)


def _gold_elements(golds: list[str], multi_answer: bool) -> list[str]:
    if multi_answer and len(golds) > 1:
        return [strip_math_delimiters(g) for g in golds]
    return answer_elements(golds[0])


_PAREN_LETTER_RE = re.compile(r"\s*\$?\s*(?:\\text\{\s*)?\(\s*[A-Ea-e]\s*\)\s*\}?\s*\$?\s*")


def _format_rule(gold: str, kind: str, rules: AnswerRules) -> str | None:
    """The named rule for a gold Math-Verify does not read, or None for Math-Verify."""
    if "\\boxed" in gold:
        return None
    if kind == "bool" or (rules.options and to_bool(gold) is not None and not kind):
        return "bool_answer"
    if (
        kind == "option"
        or (rules.options or _PAREN_LETTER_RE.fullmatch(gold))
        and to_option(gold) is not None
    ):
        return "option_answer"
    if to_minutes(gold) is not None:
        return "clock_time"
    if to_words(gold) is not None:
        return "word_answer"
    if is_prose(gold):
        return "text_match"
    return None


def _judge_by_rule(rule: str, item: _Item) -> Verdict:
    """Verdict of a named format rule on the final answer: the final box, else the final
    anchor's clause (words kept), else Math-Verify's unanchored extraction (strings for
    options: "therefore I think it's B")."""
    boxes, a, ctx, golds = item.boxes, item.anchor, item.ctx, item.golds
    distinct = list(dict.fromkeys(normalize_text(b) for b in boxes))
    if len(distinct) > 1:
        return Verdict(" ; ".join(boxes), False, "hedge", "hedge")
    if boxes:
        pred: str | None = boxes[-1]
    elif a is not None:
        pred = a.clause
    elif rule == "option_answer":
        labels = LETTER_OPTIONS if re.fullmatch(r"\s*[A-E]\s*", golds[0]) else PAREN_OPTIONS
        pred = parse_response(item.response, ctx.timeout, options=labels)[1]
    else:
        pred = parse_response(item.response, ctx.timeout)[1]
    if pred is None or not pred.strip():
        return Verdict(None, False, "no_answer", "no_answer")
    # read by Math-Verify's unanchored extraction: named so (such a sample does not vote)
    rule_name = "unanchored" if not boxes and a is None else rule
    gold = golds[0]
    if rule == "bool_answer":
        ok = to_bool(pred) == to_bool(gold)
    elif rule == "option_answer":
        letter = to_option(pred)
        if letter is None and not boxes and a is not None:  # "for sure D, it can't be A"
            first = re.search(r"\(([A-Ea-e])\)|(?<![\w'])([A-E])(?![\w'])", a.clause)
            letter = next(g for g in first.groups() if g).lower() if first else None
        ok = letter is not None and letter == to_option(gold)
    elif rule == "clock_time":
        ok = to_minutes(pred) == to_minutes(gold)
    elif rule == "word_answer":
        ok = to_words(pred) == to_words(gold)
    else:
        ok = any(normalize_text(g) == normalize_text(pred) for g in golds)
    return Verdict(pred, ok, "ok", rule_name, rule if rule_name != rule else "")
