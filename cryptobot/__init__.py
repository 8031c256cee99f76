"""cryptobot: crypto trading data & ML pipeline (core package: no Prefect imports here)."""

__version__ = "0.1.0"
