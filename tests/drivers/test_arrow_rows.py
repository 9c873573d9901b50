"""The Python-rows → Arrow rule: a value is converted only when the conversion is exact."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from querydeck.drivers.arrow_rows import rows_to_batch
from querydeck.errors import ResultTypeMismatch

INTEGER = pa.schema([("n", pa.int64())])


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([1, 2.5], id="fraction-after-integers"),
        pytest.param([2.5], id="fraction-alone"),
        pytest.param([1, np.float64(-0.5)], id="numpy-fraction"),
    ],
)
def test_a_fraction_in_an_integer_column_is_refused_not_truncated(values: list[Any]) -> None:
    with pytest.raises(ResultTypeMismatch, match="'n'"):
        rows_to_batch([(v,) for v in values], INTEGER)


def test_integral_floats_in_an_integer_column_convert_exactly() -> None:
    batch = rows_to_batch([(1,), (12.0,), (None,), (-3.0,)], INTEGER)
    assert batch.column(0).type == pa.int64()
    assert batch.column(0).to_pylist() == [1, 12, None, -3]
