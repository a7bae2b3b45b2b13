"""Regenerate the mini data slices bundled in `dart_hf/data` from ../shared/data.

Usage: .venv/bin/python scripts/make_bundled_data.py [--src ../shared/data] [--seed 0]
    [--out dart_hf/data]

Lines are copied byte for byte (same layout and raw format as the source folder), so the
bundled files go through exactly the loaders the full files use. Rows whose ids come from
their row index (GSM8K, DeepMind Mathematics) are taken as a prefix of the file so the ids
match the full data; the others are a seeded sample kept in file order.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "dart_hf" / "data"

MATH_PER_LEVEL = 30
GSM8K_TRAIN_ROWS = 60
BENCH_ROWS = 8
# CollegeMath rows carry their own licence; only plain CC BY ones may be redistributed here.
CC_BY = re.compile(r"\(CC BY(?: \d\.\d)?\)")


def read(path: Path) -> list[tuple[str, dict]]:
    """(raw line, parsed row) for every non-blank line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(line, json.loads(line)) for line in lines if line.strip()]


def write(out: Path, rel: str, rows: list[tuple[str, dict]]) -> None:
    """Write the raw lines of `rows` to out/rel."""
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line, _ in rows), encoding="utf-8")
    print(f"{rel}: {len(rows)} rows, {path.stat().st_size:,} bytes")


def sample(rows: list[tuple[str, dict]], k: int, rng: random.Random) -> list[tuple[str, dict]]:
    """k rows chosen with `rng`, in file order."""
    picked = sorted(rng.sample(range(len(rows)), k))
    return [rows[i] for i in picked]


def spread(rows: list[tuple[str, dict]], key: str, k: int, rng: random.Random) -> list[tuple[str, dict]]:
    """k rows taken round-robin over the groups of `key` (seeded), in file order."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, (_, row) in enumerate(rows):
        by_group[row[key]].append(i)
    queues = [rng.sample(ids, len(ids)) for _, ids in sorted(by_group.items())]
    chosen: list[int] = []
    while len(chosen) < min(k, len(rows)):
        for queue in queues:
            if queue and len(chosen) < k:
                chosen.append(queue.pop())
    return [rows[i] for i in sorted(chosen)]


def math_train(rows: list[tuple[str, dict]], rng: random.Random) -> list[tuple[str, dict]]:
    """MATH_PER_LEVEL rows per level 1-5, spread over subjects, in file order."""
    picked: list[tuple[str, dict]] = []
    for level in range(1, 6):
        at_level = [r for r in rows if r[1]["level"] == f"Level {level}"]
        picked += spread(at_level, "type", MATH_PER_LEVEL, rng)
    return sorted(picked, key=lambda r: rows.index(r))


def theoremqa(rows: list[tuple[str, dict]], rng: random.Random) -> list[tuple[str, dict]]:
    """One row of each answer type, one row that needs a picture, the rest random."""
    order = rng.sample(range(len(rows)), len(rows))
    picked: list[int] = []
    for answer_type in sorted({row["Answer_type"] for _, row in rows}):
        picked.append(
            next(
                i for i in order if rows[i][1]["Answer_type"] == answer_type and rows[i][1]["Picture"] is None
            )
        )
    picked.append(next(i for i in order if rows[i][1]["Picture"] is not None))
    rest = [i for i in order if i not in picked and rows[i][1]["Picture"] is None]
    picked += rest[: BENCH_ROWS - len(picked)]
    return [rows[i] for i in sorted(picked)]


def olympiad(rows: list[tuple[str, dict]], rng: random.Random) -> list[tuple[str, dict]]:
    """Rows with a tolerance, a unit, several answers, a non-numeric type; the rest random."""
    order = rng.sample(range(len(rows)), len(rows))
    tests = [
        lambda r: r["error"] is not None,
        lambda r: r["unit"] is not None,
        lambda r: r["is_multiple_answer"],
        lambda r: r["answer_type"] == "Expression",
        lambda r: r["answer_type"] == "Interval",
    ]
    picked: list[int] = []
    for test in tests:
        picked.append(next(i for i in order if test(rows[i][1]) and i not in picked))
    picked += [i for i in order if i not in picked][: BENCH_ROWS - len(picked)]
    return [rows[i] for i in sorted(picked)]


def main() -> None:
    """Write every slice."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT, help="Output folder [dart_hf/data].")
    args = parser.parse_args()
    src: Path = args.src
    out: Path = args.out

    def rng(name: str) -> random.Random:
        return random.Random(f"{args.seed}/{name}")

    write(out, "math/train.jsonl", math_train(read(src / "math/train.jsonl"), rng("math/train")))
    write(out, "gsm8k/train.jsonl", read(src / "gsm8k/train.jsonl")[:GSM8K_TRAIN_ROWS])
    write(out, "math/test.jsonl", sample(read(src / "math/test.jsonl"), BENCH_ROWS, rng("math")))
    math500 = read(src / "math500/test.jsonl")
    write(out, "math500/test.jsonl", sample(math500, BENCH_ROWS, rng("math500")))
    write(out, "gsm8k/test.jsonl", read(src / "gsm8k/test.jsonl")[:BENCH_ROWS])
    college = [r for r in read(src / "college_math/test.jsonl") if CC_BY.search(r[1]["license"])]
    write(out, "college_math/test.jsonl", spread(college, "data_source", BENCH_ROWS, rng("college")))
    deepmind = read(src / "deepmind_mathematics/test.jsonl")
    write(out, "deepmind_mathematics/test.jsonl", deepmind[:BENCH_ROWS])
    olympiad_rows = olympiad(read(src / "olympiadbench/test.jsonl"), rng("olympiadbench"))
    write(out, "olympiadbench/test.jsonl", olympiad_rows)
    write(out, "theoremqa/test.jsonl", theoremqa(read(src / "theoremqa/test.jsonl"), rng("theoremqa")))


if __name__ == "__main__":
    main()
