"""The EMA macros of the dbt project, rendered with plain Jinja and run in DuckDB against the
recursion they replace: small blocks, so a short series spans many block carries."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import jinja2
import numpy as np
import pandas as pd
import pytest

from cryptobot.config import PROJECT_ROOT

MACROS = (PROJECT_ROOT / "dbt_project" / "macros" / "ema.sql").read_text(encoding="utf-8")
BLOCK_SIZE = 64


class CompilerError(Exception):
    pass


def _raise_compiler_error(message: str) -> None:
    raise CompilerError(message)


def render(call: str, block_size: int = BLOCK_SIZE) -> str:
    """The SQL a macro call compiles to, with dbt's var() and exceptions stubbed."""
    template = jinja2.Environment().from_string(MACROS + "{{ " + call + " }}")
    return template.render(
        var={"ema_block_size": block_size}.__getitem__,
        exceptions=SimpleNamespace(raise_compiler_error=_raise_compiler_error),
    )


def recursive_ema(
    x: np.ndarray, alpha: float, seed_index: int = 0, seed_bars: int = 1
) -> np.ndarray:
    """The recursion, started at `seed_index` from the mean of the `seed_bars` values ending
    there (TA-Lib's seed; by default y_0 = x_0); NaN before."""
    y = np.full(len(x), np.nan)
    y[seed_index] = x[seed_index - seed_bars + 1 : seed_index + 1].mean()
    for t in range(seed_index + 1, len(x)):
        y[t] = alpha * x[t] + (1 - alpha) * y[t - 1]
    return y


@pytest.fixture(scope="module")
def series() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"a": 100 + np.cumsum(rng.normal(0, 1, 1000)), "b": rng.lognormal(0, 1, 333)}


def run(
    series: dict[str, np.ndarray],
    expressions: dict[str, str],
    derived: str = "null",
    first_bar_index: int = 0,
) -> dict[str, pd.DataFrame]:
    """Window expressions over each series, plus `derived`, an expression of their results.
    `first_bar_index` (a block boundary) is the bar_index of each partition's first row, as in
    an incremental look-back window."""
    rows = [
        (name, first_bar_index + i, float(v))
        for name, values in series.items()
        for i, v in enumerate(values)
    ]
    selected = ", ".join(f"{sql} as {name}" for name, sql in expressions.items())
    with duckdb.connect() as con:
        con.execute("create table x (name varchar, bar_index integer, value double)")
        con.executemany("insert into x values (?, ?, ?)", rows)
        frame = con.execute(
            f"""
            select *, {derived} as derived
            from (
                select name, bar_index, {selected}
                from (select *, bar_index % {BLOCK_SIZE} as block_row from x)
                window series as (partition by name order by bar_index)
            )
            order by name, bar_index
            """
        ).df()
    return {name: frame[frame["name"] == name] for name in series}


@pytest.mark.parametrize("alpha", [0.5, 0.6, 0.8])
def test_ema_equals_the_recursion_across_blocks(series, alpha):
    results = run(series, {"ema": render(f"ema('value', {alpha})")})
    for name, values in series.items():
        np.testing.assert_allclose(results[name]["ema"], recursive_ema(values, alpha), rtol=1e-12)


def test_ema_of_ema_equals_the_ema_of_the_ema(series):
    results = run(
        series,
        {"inner_ema": render("ema('value', 0.6)"), "outer_ema": render("ema('value', 0.5)")},
        derived=render("ema_of_ema('outer_ema', 'inner_ema', 0.5, 0.6)"),
    )
    for name, values in series.items():
        expected = recursive_ema(recursive_ema(values, 0.6), 0.5)
        np.testing.assert_allclose(results[name]["derived"], expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("alpha", "seed_index", "seed_bars"),
    # MACD's fast and slow EMAs (TA-Lib seeds both at bar 25), Wilder's RSI smoothing (bar 14),
    # a seed late in the first block
    [(2 / 13, 25, 12), (2 / 27, 25, 26), (1 / 14, 14, 14), (0.2, 800, 10)],
)
def test_seeded_ema_equals_talibs_recursion_from_its_seed(alpha, seed_index, seed_bars):
    """With seed_index s and seed_bars n the EMA is TA-Lib's: y_s = mean of x over the n bars
    ending at s, then the recursion, carried across blocks (values before s are unspecified).
    The project's block size, so that these slow factors can be carried."""
    rng = np.random.default_rng(8)
    series = {
        "a": 40_000 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000))),
        "b": rng.normal(0, 1, 900),
    }
    blocks = 1024
    call = f"ema('value', {alpha}, seed_index={seed_index}, seed_bars={seed_bars})"
    rows = [(name, i, float(v)) for name, values in series.items() for i, v in enumerate(values)]
    with duckdb.connect() as con:
        con.execute("create table x (name varchar, bar_index integer, value double)")
        con.executemany("insert into x values (?, ?, ?)", rows)
        frame = con.execute(
            f"""
            select name, bar_index, {render(call, block_size=blocks)} as ema
            from (select *, bar_index % {blocks} as block_row from x)
            window series as (partition by name order by bar_index)
            order by name, bar_index
            """
        ).df()
    for name, values in series.items():
        ours = frame.loc[frame["name"] == name, "ema"].to_numpy()
        expected = recursive_ema(values, alpha, seed_index, seed_bars)
        scale = np.abs(values).max()
        np.testing.assert_allclose(
            ours[seed_index:], expected[seed_index:], rtol=0, atol=1e-13 * scale
        )


def test_seeded_ema_of_a_partition_starting_later_starts_from_its_first_value(series):
    """An incremental look-back window starts on a later block boundary: it holds no bar up to
    the seed, so the EMA falls back to the partition's first value (y_0 = x_0)."""
    call = render("ema('value', 0.5, seed_index=5, seed_bars=3)")
    results = run(series, {"ema": call}, first_bar_index=3 * BLOCK_SIZE)
    for name, values in series.items():
        np.testing.assert_allclose(results[name]["ema"], recursive_ema(values, 0.5), rtol=1e-12)


@pytest.mark.parametrize(
    "arguments",
    [
        "seed_index=5",
        "seed_bars=3",
        "seed_index=5, seed_bars=7",  # more seed bars than bars up to the seed
        "seed_index=64, seed_bars=5",  # not in the first block
        "seed_index=40, seed_bars=5",  # 0.5^23: not forgotten by the end of the first block
    ],
)
def test_ema_refuses_a_seed_it_cannot_compute(arguments):
    with pytest.raises(CompilerError, match="seed"):
        render(f"ema('close', 0.5, {arguments})")


@pytest.mark.parametrize(
    ("alpha", "problem"),
    [(0.9, "too large"), (0.01, "too small"), (0.0, "must be in"), (1.0, "must be in")],
)
def test_ema_refuses_factors_the_block_size_cannot_carry(alpha, problem):
    with pytest.raises(CompilerError, match=problem):
        render(f"ema('close', {alpha})", block_size=1024)


def test_the_project_periods_fit_the_default_block_size():
    for alpha in (2 / 10, 2 / 13, 2 / 27, 1 / 14):
        assert "pow(" in render(f"ema('close', {alpha})", block_size=1024)
