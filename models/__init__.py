"""Models: walk-forward training, evaluation, MLflow registry and the champion gate."""
