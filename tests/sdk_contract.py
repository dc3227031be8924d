"""The official SDK's operations, read from the installed ``aitronos`` package (aitronos-sdk).

Each sync raw client method of the SDK names its route (method and path, in its source), the
type it parses a 2xx answer into (its return annotation, ``HttpResponse[T]``), and what a
request may carry (its keyword parameters and their annotations). Reading them from the SDK
itself, rather than copying them into a table here, is what makes a divergence fail the suite:
a new SDK version with a changed type changes the contract the tests check.
"""

import importlib
import inspect
import pkgutil
import re
import typing
from dataclasses import dataclass

import pydantic

_CALL = re.compile(r'\n\s+f?"(v1/[^"]*)",\s*\n\s*method="(\w+)"')
_PARAM = re.compile(r"\{jsonable_encoder\((\w+)\)\}")
_ANY_PARAM = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Operation:
    """One SDK operation: where it goes, what it sends, what it parses."""

    name: str  # e.g. "models.list_models"
    method: str
    path: str  # "/v1/threads/<thread_id>"
    response: object  # the type a 2xx answer is parsed into (typing.Any when the SDK has none)
    params: dict  # keyword parameter -> annotation (body fields or query parameters)
    required: frozenset
    path_params: frozenset

    def validate_response(self, data):
        return pydantic.TypeAdapter(self.response).validate_python(data)


def route_key(method, path):
    """A route with its parameter names erased, so ``<org_id>`` and ``<organization_id>`` match."""
    return method.upper(), _ANY_PARAM.sub("<>", path)


def _operation(group, name, fn):
    source = inspect.getsource(fn)
    found = _CALL.search(source)
    if found is None:
        return None
    path = "/" + _PARAM.sub(r"<\1>", found.group(1))
    returned = fn.__annotations__.get("return")
    response = typing.get_args(returned)[0] if typing.get_args(returned) else typing.Any
    path_params = frozenset(_PARAM.findall(found.group(1)))
    params, required = {}, set()
    for param in list(inspect.signature(fn).parameters.values())[1:]:
        if param.name == "request_options" or param.name in path_params:
            continue
        params[param.name] = param.annotation
        if param.default is inspect.Parameter.empty:
            required.add(param.name)
    return Operation(f"{group}.{name}", found.group(2), path, response, params, frozenset(required), path_params)


def sdk_operations():
    """Every sync operation of the installed SDK, keyed by :func:`route_key`."""
    import aitronos

    operations = {}
    for module in pkgutil.iter_modules(aitronos.__path__):
        try:
            raw = importlib.import_module(f"aitronos.{module.name}.raw_client")
        except ModuleNotFoundError:
            continue
        for cls in vars(raw).values():
            if not (inspect.isclass(cls) and cls.__module__ == raw.__name__ and cls.__name__.startswith("Raw")):
                continue
            for name, fn in vars(cls).items():
                if name.startswith("_") or not inspect.isfunction(fn):
                    continue
                op = _operation(module.name, name, fn)
                if op is not None:
                    operations.setdefault(route_key(op.method, op.path), op)
    return operations
