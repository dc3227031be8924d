"""What a ``%%freddy`` cell hands over, checked before anything is sent: names, columns, text.

Three rules live here, apart from running the cell (:mod:`._cellrun`):

- ``-o`` must not overwrite a name IPython keeps for itself (``In``, ``Out``, ``_``, ``_3``,
  ``get_ipython``...): the next prompt or ``_`` would silently be the answer, or worse.
- ``--over`` columns must have distinct names as text: ``{x}`` could not say which of two ``x``
  columns it means (or ``0`` and ``"0"``), and a DataFrame's ``to_dict`` drops one silently.
- Text must be fit for the wire (:mod:`._safe_text`): the prompt, the instructions and the input
  columns are made safe once, and the row gets a ``warning`` saying what was replaced.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from ._errors import ConfigError
from ._safe_text import wire_safe

# IPython's own names besides user_ns_hidden: the output cache (_, __, ___, _5), the input cache
# (_i, _ii, _iii, _i5), its directory history and dunders.
_IPYTHON_NAMES = re.compile(r"_{1,3}|_i{1,3}|_i?\d+|_[iod]h|_exit_code|__\w+__")


def refuse_ipython_name(name: str | None, reserved: Collection[str]) -> None:
    """ConfigError when ``-o name`` would overwrite one of IPython's own variables."""
    if name is not None and (name in reserved or _IPYTHON_NAMES.fullmatch(name)):
        raise ConfigError(
            "-o must not name one of IPython's own variables (In, Out, _, _1, _i, get_ipython, ...): "
            "choose another name"
        )


def check_columns(names: Collection[Any]) -> None:
    """ConfigError when two column names read the same (see the module docstring)."""
    seen: dict[str, int] = {}
    for column in names:
        seen[str(column)] = seen.get(str(column), 0) + 1
    twice = [column for column, count in seen.items() if count > 1]
    if twice:
        listed = ", ".join(repr(column[:40]) for column in twice[:3])
        raise ConfigError(
            f"--over needs distinct column names: {listed} appear(s) more than once, so "
            "{placeholders} could not tell them apart; rename the columns"
        )


def fit_for_wire(
    prompt: str, params: Mapping[str, Any], columns: Mapping[Any, Any]
) -> tuple[str, dict[str, Any], dict[Any, Any], str | None]:
    """``(prompt, params, columns, warning)`` with every lone surrogate replaced, and a warning
    for the row when any was (None when the text was fine)."""
    prompt, replaced = wire_safe(prompt)
    fixed_params = dict(params)
    if isinstance(fixed_params.get("instructions"), str):
        fixed_params["instructions"], count = wire_safe(fixed_params["instructions"])
        replaced += count
    fixed_columns: dict[Any, Any] = {}
    for key, value in columns.items():
        if isinstance(key, str):
            key, count = wire_safe(key)
            replaced += count
        if isinstance(value, str):
            value, count = wire_safe(value)
            replaced += count
        fixed_columns[key] = value
    warning = None
    if replaced:
        warning = (
            f"{replaced} character(s) that cannot be sent (lone UTF-16 surrogates, half of an emoji or "
            "symbol) were replaced by \ufffd before sending"
        )
    return prompt, fixed_params, fixed_columns, warning
