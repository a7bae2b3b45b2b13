"""The release schema's checks on hand-made tables: closed sets, nulls, missing columns."""

from __future__ import annotations

import pytest
from datasets import Dataset

from dart_hf.build import schema
from dart_hf.errors import DartError


def test_closed_sets_and_nulls_are_checked() -> None:
    ds = Dataset.from_dict(
        {"grade_status": ["ok", "maybe"], "drop_reason": [None, "incorrect"], "id": ["a", None]}
    )
    assert schema.bad_values(ds, schema.SAMPLES) == {"grade_status": ["maybe"], "id": [None]}
    with pytest.raises(DartError, match="missing.*query"):
        schema.table(schema.RELEASE, {"response": ["x"]})
    # an all-null column keeps its declared type (inferred, it would be `null`)
    queries = schema.columns(schema.QUERIES, ["uniform"])
    cols = {c.name: [None] for c in queries}
    assert schema.table(schema.QUERIES, cols, ["uniform"]).features["gold_majority"].dtype == ("string")
    with pytest.raises(DartError, match="unknown release config 'pool'; valid: default"):
        schema.columns("pool")
