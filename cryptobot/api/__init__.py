"""The read-only REST API (``cryptobot api serve``): FastAPI on a snapshot of the warehouse.

``create_app(settings)`` builds it; see :mod:`cryptobot.api.app` for authentication, rate limits
and CORS, :mod:`cryptobot.api.snapshot` for how it reads while flows write.
"""

from cryptobot.api.app import create_app

__all__ = ["create_app"]
