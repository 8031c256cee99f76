"""The API's endpoints, one module per resource; each exposes ``router(config)``."""
