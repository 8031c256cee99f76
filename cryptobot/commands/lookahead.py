"""`cryptobot check-lookahead` (being written)."""
