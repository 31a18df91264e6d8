"""Loads a run's tables with pandas (and polars, when installed) and checks them against
results.json: the columns and their types, one metrics row per row of every seed's table, and per
(seed, benchmark, metric) as many item rows as the row's n, whose means are the row's before and
after. The CSV and Parquet files must hold the same values. Run with any Python that has pandas
and pyarrow (polars optional):

    spillover run examples/tiny.toml --json > run.json   # or any run folder
    python tools/tables_check.py RUN_FOLDER [--show]

--show prints the dtypes and a few rows of each table (docs/pandas.md shows this output).
Exit status 0 when every check passes, 1 otherwise (the failures are printed).
"""
import json
import math
import sys
from pathlib import Path

import pandas as pd

ITEM_COLUMNS = {
    "seed": "int", "benchmark": "str", "metric": "str", "item_id": "str", "prompt_id": "str",
    "before": "float", "after": "float", "label_before": "str", "label_after": "str",
    "judge_reason_before": "str", "judge_reason_after": "str",
    "judge_p_refusal_before": "float", "judge_p_refusal_after": "float",
    "output_before": "str", "output_after": "str", "extracted_before": "str",
    "extracted_after": "str", "gold": "str",
}
METRIC_KEYS = ["seed", "benchmark", "metric", "n", "before", "after", "change", "change_lo",
               "change_hi", "p_value", "p_holm", "verdict", "mde", "blind"]

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def kind_ok(series, kind):
    """Whether a column read by pandas has the kind the docs promise (all-null text columns
    are read as float by pandas from CSV, as object/str from Parquet)."""
    if series.isna().all():
        return True
    if kind == "int":
        return pd.api.types.is_integer_dtype(series)
    if kind == "float":
        return pd.api.types.is_float_dtype(series)
    return pd.api.types.is_string_dtype(series) or series.dtype == object


def same(a, b):
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return a == b


def main(run, show):
    run = Path(run)
    tables = run / "tables"
    results = json.load(open(run / "results.json"))
    items = pd.read_parquet(tables / "items.parquet")
    items_csv = pd.read_csv(tables / "items.csv", keep_default_na=False, na_values=[""])
    metrics = pd.read_parquet(tables / "metrics.parquet")
    metrics_csv = pd.read_csv(tables / "metrics.csv")

    check(list(items.columns) == list(ITEM_COLUMNS), f"items columns {list(items.columns)}")
    for col, kind in ITEM_COLUMNS.items():
        check(kind_ok(items[col], kind), f"items.parquet {col}: dtype {items[col].dtype}, want {kind}")
        check(kind_ok(items_csv[col], kind), f"items.csv {col}: dtype {items_csv[col].dtype}, want {kind}")
    for col in METRIC_KEYS:
        check(col in metrics.columns, f"metrics has no column {col}")
    check(list(metrics.columns) == list(metrics_csv.columns), "metrics CSV and Parquet columns differ")
    check(pd.api.types.is_bool_dtype(metrics["tested"]), f"tested: {metrics['tested'].dtype}")

    # Metrics: every seed's table, row for row.
    want = [(s["seed"], r) for s in results["seeds"] for r in s["table"]]
    check(len(metrics) == len(want), f"{len(metrics)} metrics rows, results.json has {len(want)}")
    for (_, m), (seed, r) in zip(metrics.iterrows(), want):
        key = f"{seed}/{r['benchmark']}/{r['metric']}"
        check((m.seed, m.benchmark, m.metric) == (seed, r["benchmark"], r["metric"]), f"row {key}")
        check(m.n == r["n"], f"{key}: n {m.n} vs {r['n']}")
        check(m.verdict == r["verdict"], f"{key}: verdict")
        check(same(m.before, r["before"]["estimate"]), f"{key}: before")
        check(same(m.change, r["change"]["estimate"]), f"{key}: change")
        p = r["p_holm"] if r["p_holm"] is not None else float("nan")
        check(same(m.p_holm, p), f"{key}: p_holm {m.p_holm} vs {p}")
    for col in metrics.columns:
        a, b = metrics[col], metrics_csv[col]
        if pd.api.types.is_float_dtype(a):
            check(((a == b) | (a.isna() & b.isna())).all(), f"metrics {col}: CSV differs from Parquet")
        else:
            norm = lambda s: [None if pd.isna(x) else str(x) for x in s]
            check(norm(a) == norm(b), f"metrics {col}: CSV differs from Parquet")

    # Items: n rows per metrics row, whose means are the row's before and after.
    groups = items.groupby(["seed", "benchmark", "metric"], sort=False)
    check(groups.ngroups == len(metrics), f"{groups.ngroups} item groups for {len(metrics)} metrics rows")
    agg = groups.agg(n=("item_id", "size"), before=("before", "mean"), after=("after", "mean"))
    for _, m in metrics.iterrows():
        g = agg.loc[(m.seed, m.benchmark, m.metric)]
        key = f"{m.seed}/{m.benchmark}/{m.metric}"
        check(g.n == m.n, f"{key}: {g.n} items, n = {m.n}")
        check(abs(g.before - m.before) <= 1e-12 * (1 + abs(m.before)), f"{key}: mean before {g.before} vs {m.before}")
        check(abs(g.after - m.after) <= 1e-12 * (1 + abs(m.after)), f"{key}: mean after {g.after} vs {m.after}")
    check(len(items_csv) == len(items), "items CSV and Parquet row counts differ")
    check((items_csv["item_id"].astype(str) == items["item_id"]).all(), "items ids differ between CSV and Parquet")
    check((items_csv["before"] == items["before"]).all(), "items before differ between CSV and Parquet")

    try:
        import polars as pl
    except ImportError:
        pl = None
    if pl is not None:
        p_items = pl.read_parquet(tables / "items.parquet")
        check(p_items.columns == list(ITEM_COLUMNS), "polars: items columns")
        check(p_items.schema["seed"] == pl.Int64 and p_items.schema["before"] == pl.Float64
              and p_items.schema["item_id"] == pl.String, f"polars: items schema {p_items.schema}")
        p_csv = pl.read_csv(tables / "metrics.csv")
        check(p_csv.height == len(metrics), "polars: metrics.csv rows")

    if show:
        pd.set_option("display.width", 200)
        pd.set_option("display.max_columns", 12)
        pd.set_option("display.max_colwidth", 22)
        print("items.parquet:", len(items), "rows")
        print(items.dtypes.to_string())
        print(items[items.seed == 0].drop_duplicates("benchmark")[
            ["seed", "benchmark", "metric", "item_id", "before", "after", "label_after",
             "judge_p_refusal_after", "extracted_after", "gold"]].to_string())
        print()
        print("metrics.parquet:", len(metrics), "rows")
        print(metrics[["seed", "benchmark", "metric", "n", "before", "after", "change",
                       "change_lo", "change_hi", "p_holm", "verdict"]].head(6).to_string())
    for f in failures:
        print("FAIL:", f)
    print(f"{'ok' if not failures else 'FAILED'}: {len(items)} item rows, {len(metrics)} metrics rows, "
          f"{len(failures)} failures ({'pandas ' + pd.__version__}{', polars ' + pl.__version__ if pl else ''})")
    return 1 if failures else 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    sys.exit(main(args[0], "--show" in sys.argv))
