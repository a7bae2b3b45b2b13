"""Math final-answer accuracy, graded with dart-hf's grader (`dart_hf.grading.grade`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import datasets
import evaluate

from dart_hf.grading.verdict import STATUSES, accuracy

_DESCRIPTION = """\
Accuracy of the final answers in model responses to math problems. Each response's answer is
extracted and compared with the gold answer by dart-hf's grader: Math-Verify (gold first) plus
per-benchmark gold handling (GSM8K numbers, CollegeMath words and units, TheoremQA bools and
options, OlympiadBench tolerances and multiple answers), with a hard time limit per item. It is
the grader `dart-hf eval` uses, so both give the same accuracy on the same predictions.
Items whose gold answer does not parse (`bad_gold`) are left out of the accuracy and counted.
With K responses per item (`predictions` as lists), it also gives the unbiased pass@k and
maj@k for k = 1..K and the accuracy's standard error with items as the unit, computed by
`dart_hf.evaluation.passk` exactly as `dart-hf eval --n K` computes them for `results.json`.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str, or list of lists of str): model responses (the answer is taken
        from the last \\boxed{} or a final-answer sentence); a list of K responses per item
        (in sample order) adds pass@k and maj@k.
    references (list of str): gold final answers, one per item.
    benchmarks (list of str, optional): benchmark of each item ("math", "gsm8k",
        "college_math", "deepmind_mathematics", "olympiadbench", "theoremqa", "math500") for
        per-benchmark gold handling; default: generic handling.
    finish_reasons (list of str, or of lists of str with list predictions, optional):
        "length" marks a response cut at the token limit, which counts as wrong, as in
        `dart-hf eval`.
    gold_fields (list of dict, optional): per-item extra gold fields the grader reads
        (`answers`, `answer_type`, `multi_answer`, `unit`, `tolerance`).
    timeout_s (float, optional): wall-clock limit per item (default 5).
    num_proc (int, optional): grading worker processes (default 1).
Returns:
    accuracy: correct / graded items (0..1), None when no item could be graded (every gold
    answer unparseable); se: its standard error (sd of per-item means / sqrt(items), None
    under two items); n: graded items; correct: correct responses; and the count of each
    grade status over responses (ok, no_answer, hedge, timeout, error, truncated, bad_gold).
    With lists of K responses per item, also samples (K), pass@1..pass@K (unbiased,
    1 - C(n-c, k)/C(n, k)) and maj@1..maj@K (vote of the first k responses; only `ok`
    responses vote, answers equal by the grader are one vote, ties go to the answer voted
    first); accuracy is then the mean of the per-item mean correctness (= pass@1), and an
    item with a `bad_gold` response is left out.
Raises:
    ValueError: no predictions, or a per-item argument of another length.
Examples:
    >>> metric = evaluate.load(METRIC_PATH)
    >>> responses = ["So $x = \\\\boxed{\\\\frac{1}{2}}$."]
    >>> metric.compute(predictions=responses, references=["0.5"])["accuracy"]
    1.0
"""

_CITATION = """\
@inproceedings{tong2024dartmath,
  title={{DART}-Math: Difficulty-Aware Rejection Tuning for Mathematical Problem-Solving},
  author={Tong, Yuxuan and Zhang, Xiwen and Wang, Rui and Wu, Ruidong and He, Junxian},
  booktitle={Advances in Neural Information Processing Systems},
  year={2024}
}
"""

GOLD_FIELDS = ("answers", "answer_type", "multi_answer", "unit", "tolerance")


def _column(name: str, values: list[Any] | None, n: int) -> list[Any]:
    if values is None:
        return []
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} items, predictions have {n}")
    return list(values)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MathAccuracy(evaluate.Metric):
    """Final-answer accuracy with dart-hf's grader."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string"),
                        "references": datasets.Value("string"),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Value("string")),
                        "references": datasets.Value("string"),
                    }
                ),
            ],
            homepage="https://github.com/hkust-nlp/dart-math",
            codebase_urls=[
                "https://github.com/hkust-nlp/dart-math",
                "https://github.com/huggingface/Math-Verify",
            ],
            license="apache-2.0",
            reference_urls=["https://arxiv.org/abs/2407.13690"],
        )

    def compute(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """evaluate's `compute`, refusing no predictions with a clear error (with two input
        formats evaluate would infer the format from the first item and fail obscurely)."""
        if "predictions" in kwargs and not kwargs["predictions"]:
            raise ValueError("no predictions to grade: accuracy is undefined")
        return super().compute(*args, **kwargs)

    def _compute(
        self,
        predictions: list[Any],
        references: list[str],
        benchmarks: list[str] | None = None,
        finish_reasons: list[Any] | None = None,
        gold_fields: list[dict[str, Any]] | None = None,
        timeout_s: float = 5.0,
        num_proc: int = 1,
    ) -> dict[str, Any]:
        from dart_hf.config import GradeConfig
        from dart_hf.evaluation.passk import standard_error
        from dart_hf.grading.grade import grade_batch

        n = len(predictions)
        if n == 0:
            raise ValueError("no predictions to grade: accuracy is undefined")
        if any(isinstance(p, (list, tuple)) for p in predictions):
            return self._compute_samples(
                predictions,
                references,
                benchmarks,
                finish_reasons,
                gold_fields,
                timeout_s,
                num_proc,
            )
        batch: dict[str, list[Any]] = {"response": list(predictions), "answer": list(references)}
        if benchmarks is not None:
            batch["source"] = _column("benchmarks", benchmarks, n)
        if finish_reasons is not None:
            batch["finish_reason"] = _column("finish_reasons", finish_reasons, n)
        if gold_fields is not None:
            rows = _column("gold_fields", gold_fields, n)
            for key in GOLD_FIELDS:
                if any(key in row for row in rows):
                    batch[key] = [row.get(key) for row in rows]
        out = grade_batch(batch, config=GradeConfig(timeout_s=timeout_s, num_proc=num_proc))
        statuses = Counter(out["grade_status"])
        n, correct, acc = accuracy(out["correct"], out["grade_status"])
        graded = [c for c, s in zip(out["correct"], out["grade_status"], strict=True) if s != "bad_gold"]
        return {
            "accuracy": acc,
            "se": standard_error([1.0 if c is True else 0.0 for c in graded]),
            "n": n,
            "correct": correct,
            **{s: statuses.get(s, 0) for s in STATUSES},
        }

    def _compute_samples(
        self,
        predictions: list[list[str]],
        references: list[str],
        benchmarks: list[str] | None,
        finish_reasons: list[list[str]] | None,
        gold_fields: list[dict[str, Any]] | None,
        timeout_s: float,
        num_proc: int,
    ) -> dict[str, Any]:
        """K responses per item: graded flat, then `passk.item_table` per item."""
        from dart_hf.config import GradeConfig
        from dart_hf.evaluation.passk import Sample, grader_equal, item_table
        from dart_hf.grading.grade import grade_batch

        n = len(predictions)
        sizes = [len(p) for p in predictions]
        if not all(sizes):
            raise ValueError("every item needs at least one response")
        item = [i for i, k in enumerate(sizes) for _ in range(k)]
        refs = _column("references", references, n)
        benches = _column("benchmarks", benchmarks, n) if benchmarks is not None else None
        batch: dict[str, list[Any]] = {
            "response": [r for p in predictions for r in p],
            "answer": [refs[i] for i in item],
        }
        if benches is not None:
            batch["source"] = [benches[i] for i in item]
        if finish_reasons is not None:
            reasons = _column("finish_reasons", finish_reasons, n)
            for i, (r, k) in enumerate(zip(reasons, sizes, strict=True)):
                if not isinstance(r, (list, tuple)) or len(r) != k:
                    raise ValueError(f"finish_reasons[{i}] must list {k} reasons, one a response")
            batch["finish_reason"] = [x for r in reasons for x in r]
        if gold_fields is not None:
            rows = _column("gold_fields", gold_fields, n)
            for key in GOLD_FIELDS:
                if any(key in row for row in rows):
                    batch[key] = [rows[i].get(key) for i in item]
        out = grade_batch(batch, config=GradeConfig(timeout_s=timeout_s, num_proc=num_proc))
        samples: list[list[Sample]] = [[] for _ in range(n)]
        for i, c, s, p in zip(item, out["correct"], out["grade_status"], out["pred"], strict=True):
            samples[i].append(Sample(c, s, p))
        # items grouped by benchmark, since answers are compared with each benchmark's rules
        groups: dict[str | None, list[int]] = {}
        for i in range(n):
            groups.setdefault(benches[i] if benches else None, []).append(i)
        if len(groups) == 1:
            ((bench, idx),) = groups.items()
            table = item_table([samples[i] for i in idx], grader_equal(bench))
        else:
            table = _pooled(groups, samples)
        statuses = Counter(out["grade_status"])
        return {
            "accuracy": table["accuracy"],
            "se": table["se"],
            "n": table["items"],
            "samples": table["n"],
            "correct": sum(1 for c in out["correct"] if c is True),
            **{f"pass@{k}": v for k, v in table["pass@k"].items()},
            **{f"maj@{k}": v for k, v in table["maj@k"].items()},
            **{s: statuses.get(s, 0) for s in STATUSES},
        }


def _pooled(groups: dict[str | None, list[int]], samples: list[list[Any]]) -> dict[str, Any]:
    """One table over items of several benchmarks (each voting with its own rules)."""
    from dart_hf.evaluation.passk import grader_equal, item_table, standard_error

    tables = [(idx, item_table([samples[i] for i in idx], grader_equal(b))) for b, idx in groups.items()]
    kept = [(t, t["items"]) for _, t in tables if t["items"]]
    if not kept:
        return {"items": 0, "n": 0, "accuracy": None, "se": None, "pass@k": {}, "maj@k": {}}
    items = sum(w for _, w in kept)
    big_k = min(t["n"] for t, _ in kept)

    def mean(key: str, k: int) -> float:
        return sum(t[key][k] * w for t, w in kept) / items

    means = [
        sum(1 for x in s if x.correct) / len(s)
        for idx, _ in tables
        for s in (samples[i] for i in idx)
        if not any(x.status == "bad_gold" for x in s)
    ]
    return {
        "items": items,
        "n": big_k,
        "accuracy": sum(means) / len(means),
        "se": standard_error(means),
        "pass@k": {k: mean("pass@k", k) for k in range(1, big_k + 1)},
        "maj@k": {k: mean("maj@k", k) for k in range(1, big_k + 1)},
    }
