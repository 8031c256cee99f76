"""The registry of model families: name -> ``Forecaster`` subclass.

Each family lives in its own module and registers itself with ``@register``. A module is imported
only when its family is first asked for, so that training XGBoost alone never pays for torch.
To add a family: write ``models/families/<name>.py`` (see ``base.py``) and add one line below.
"""

from __future__ import annotations

import importlib

from models.families.base import Forecaster

#: family name -> the module that defines it
FAMILY_MODULES = {
    "persistence": "models.families.baselines",
    "always_up": "models.families.baselines",
    "zero_return": "models.families.baselines",
    "xgboost": "models.families.xgb",
    "random_forest": "models.families.random_forest",
    "lstm": "models.families.lstm",
}

_REGISTRY: dict[str, type[Forecaster]] = {}


def register(cls: type[Forecaster]) -> type[Forecaster]:
    """Class decorator: make a family available by its ``family`` name."""
    name = cls.family
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"two model families are named {name!r}")
    _REGISTRY[name] = cls
    return cls


def family_names() -> list[str]:
    return sorted(FAMILY_MODULES)


def get_family(name: str) -> type[Forecaster]:
    """The family class called ``name``; a ValueError lists the known ones."""
    if name not in FAMILY_MODULES:
        raise ValueError(
            f"unknown model family {name!r}; known families: {', '.join(family_names())}"
        )
    if name not in _REGISTRY:
        importlib.import_module(FAMILY_MODULES[name])
    if name not in _REGISTRY:
        raise RuntimeError(f"{FAMILY_MODULES[name]} does not register a family named {name!r}")
    return _REGISTRY[name]
