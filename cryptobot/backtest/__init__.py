"""Backtests: the execution core replayed over history, their metrics and Monte Carlo."""
