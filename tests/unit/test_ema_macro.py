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


def recursive_ema(x: np.ndarray, alpha: float) -> np.ndarray:
    y = np.empty_like(x)
    y[0] = x[0]
    for t in range(1, len(x)):
        y[t] = alpha * x[t] + (1 - alpha) * y[t - 1]
    return y


@pytest.fixture(scope="module")
def series() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"a": 100 + np.cumsum(rng.normal(0, 1, 1000)), "b": rng.lognormal(0, 1, 333)}


def run(
    series: dict[str, np.ndarray], expressions: dict[str, str], derived: str = "null"
) -> dict[str, pd.DataFrame]:
    """Window expressions over each series, plus `derived`, an expression of their results."""
    rows = [(name, i, float(v)) for name, values in series.items() for i, v in enumerate(values)]
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
    ("alpha", "problem"),
    [(0.9, "too large"), (0.01, "too small"), (0.0, "must be in"), (1.0, "must be in")],
)
def test_ema_refuses_factors_the_block_size_cannot_carry(alpha, problem):
    with pytest.raises(CompilerError, match=problem):
        render(f"ema('close', {alpha})", block_size=1024)


def test_the_project_periods_fit_the_default_block_size():
    for alpha in (2 / 10, 2 / 13, 2 / 27, 1 / 14):
        assert "pow(" in render(f"ema('close', {alpha})", block_size=1024)
