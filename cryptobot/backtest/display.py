"""How a backtest's after-cost metrics are shown, one list for the CLI, the app and reports
(no heavy imports: the app loads it on its first page)."""

#: (key in a backtest's metrics, label, format: "pct" or a format spec), in the order shown
DISPLAY = (
    ("total_return", "total return", "pct"),
    ("annualized_return", "annualised return", "pct"),
    ("sharpe", "Sharpe", ".2f"),
    ("sortino", "Sortino", ".2f"),
    ("calmar", "Calmar", ".2f"),
    ("max_drawdown", "max drawdown", "pct"),
    ("max_drawdown_duration_hours", "max drawdown duration (h)", ",.0f"),
    ("win_rate", "win rate", "pct"),
    ("profit_factor", "profit factor", ".2f"),
    ("exposure", "exposure (share of bars)", "pct"),
    ("turnover_per_year", "turnover per year (x equity)", ".1f"),
    ("trades", "trades (closed round trips)", ",.0f"),
    ("open_trades", "open at the end", ",.0f"),
    ("fees", "fees paid", ",.2f"),
    ("costs", "fees + spread + slippage", ",.2f"),
    ("directional_accuracy", "directional accuracy", "pct"),
)
