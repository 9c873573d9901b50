"""The chart a saved query keeps: a Vega-Lite spec of its results, without the data.

The web UI draws a chart of a result from the server's aggregation of it and saves the
spec it drew, its data replaced by a named data source (``{"name": "result"}``) and its
settings (chart type, x, y, colour, aggregate) under ``usermeta.querydeck``. querydeck
keeps the spec as given, after checking what it can without a Vega-Lite implementation:
an object, at most :data:`MAX_CHART_BYTES` of compact JSON, no inline data (a saved query
keeps no rows), and a ``$schema``, when given, of Vega-Lite.
"""

from __future__ import annotations

from typing import Any

import orjson

from querydeck.errors import SavedQueryChartInvalid

MAX_CHART_BYTES = 65_536
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/"


def _inline_data(spec: Any) -> bool:
    """Whether a spec (or a layer, concat... of it) holds inline data values."""
    if isinstance(spec, dict):
        data = spec.get("data")
        if isinstance(data, dict) and "values" in data:
            return True
        return any(_inline_data(value) for key, value in spec.items() if key != "usermeta")
    if isinstance(spec, list):
        return any(_inline_data(item) for item in spec)
    return False


def checked_chart(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """``spec`` when querydeck may keep it (None stays None), else SAVED_QUERY_CHART_INVALID."""
    if spec is None:
        return None
    size = len(orjson.dumps(spec))
    if size > MAX_CHART_BYTES:
        raise SavedQueryChartInvalid(
            f"A chart spec is at most {MAX_CHART_BYTES:,} bytes of JSON; this one is {size:,}.",
            detail={"limit": MAX_CHART_BYTES, "size": size},
        )
    schema = spec.get("$schema")
    if schema is not None and not (isinstance(schema, str) and schema.startswith(VEGA_LITE_SCHEMA)):
        raise SavedQueryChartInvalid(
            "A chart spec's $schema, when given, is a Vega-Lite schema.",
            detail={"expected_prefix": VEGA_LITE_SCHEMA},
        )
    if _inline_data(spec):
        raise SavedQueryChartInvalid(
            "A saved chart keeps no rows: replace its inline data.values with a named data "
            'source ({"name": "result"}).'
        )
    return spec
