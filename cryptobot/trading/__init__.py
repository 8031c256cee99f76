"""Trading: orders and their state machine, strategies, risk checks, the portfolio's arithmetic,
brokers (paper and ccxt live) and the step the hourly `trade` flow runs (:mod:`.engine`)."""
