"""Math final-answer accuracy, graded with dart-hf's grader (`dart_hf.grading.grade_batch`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import datasets
import evaluate

from dart_hf.answers import STATUSES

_DESCRIPTION = """\
Accuracy of the final answers in model responses to math problems. Each response's answer is
extracted and compared with the gold answer by dart-hf's grader: Math-Verify (gold first) plus
per-benchmark gold handling (GSM8K numbers, CollegeMath words and units, TheoremQA bools and
options, OlympiadBench tolerances and multiple answers), with a hard time limit per item. It is
the grader `dart-hf eval` uses, so both give the same accuracy on the same predictions.
Items whose gold answer does not parse (`bad_gold`) are left out of the accuracy and counted.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): model responses (the answer is taken from the last \\boxed{}
        or a final-answer sentence).
    references (list of str): gold final answers.
    benchmarks (list of str, optional): benchmark of each item ("math", "gsm8k",
        "college_math", "deepmind_mathematics", "olympiadbench", "theoremqa", "math500") for
        per-benchmark gold handling; default: generic handling.
    finish_reasons (list of str, optional): "length" marks a response cut at the token limit,
        which counts as wrong, as in `dart-hf eval`.
    gold_fields (list of dict, optional): per-item extra gold fields the grader reads
        (`answers`, `answer_type`, `multi_answer`, `unit`, `tolerance`).
    timeout_s (float, optional): wall-clock limit per item (default 5).
    num_proc (int, optional): grading worker processes (default 1).
Returns:
    accuracy: correct / graded items (0..1), None when no item could be graded (every gold
    answer unparseable); n: graded items; correct: correct items; and the count of each grade
    status (ok, no_answer, hedge, timeout, error, truncated, bad_gold).
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
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            homepage="https://github.com/hkust-nlp/dart-math",
            codebase_urls=[
                "https://github.com/hkust-nlp/dart-math",
                "https://github.com/huggingface/Math-Verify",
            ],
            license="apache-2.0",
            reference_urls=["https://arxiv.org/abs/2407.13690"],
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[str],
        benchmarks: list[str] | None = None,
        finish_reasons: list[str] | None = None,
        gold_fields: list[dict[str, Any]] | None = None,
        timeout_s: float = 5.0,
        num_proc: int = 1,
    ) -> dict[str, Any]:
        from dart_hf.config import GradeConfig
        from dart_hf.grading import grade_batch

        n = len(predictions)
        if n == 0:
            raise ValueError("no predictions to grade: accuracy is undefined")
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
        graded = [
            c for c, s in zip(out["correct"], out["grade_status"], strict=True) if s != "bad_gold"
        ]
        correct = sum(1 for c in graded if c is True)
        return {
            "accuracy": correct / len(graded) if graded else None,
            "n": len(graded),
            "correct": correct,
            **{s: statuses.get(s, 0) for s in STATUSES},
        }
