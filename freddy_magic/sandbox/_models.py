"""The model catalog: real model keys with plausible capabilities, so notebooks port unchanged.

Keys match what the docs and tests use (``ftg-3.0``, the classic dialect's default, ``gpt-4o``, ``claude-3-5-sonnet``,
``o3-preview`` with reasoning) plus one deprecated, one legacy and one UI-hidden model, so each
of the seven ``GET /v1/models`` switches has something to switch.
"""

from __future__ import annotations

import hashlib

from ._bodies import query_bool
from ._envelope import json_response

_BASE = ["text_generation", "conversation", "streaming"]
_EXTENDED = (
    "release_date",
    "recommended_for",
    "model_version",
    "training_data_cutoff",
    "added_to_aitronos_date",
    "use_cases",
    "strengths",
    "limitations",
    "performance_ratings",
    "benchmark_scores",
    "documentation_url",
    "provider_docs_url",
)

# key, name, provider, capabilities beyond the base, context window, flags
_CATALOG = [
    ("ftg-3.0", "FTG 3.0", "aitronos", ["tool_calling"], 128000, {"badge": "recommended"}),
    ("gpt-4o", "GPT-4o", "openai", ["tool_calling", "vision"], 128000, {}),
    ("gpt-4o-mini", "GPT-4o mini", "openai", ["tool_calling", "vision"], 128000, {"badge": "fast"}),
    ("gpt-4.1", "GPT-4.1", "openai", ["tool_calling", "vision"], 1047576, {}),
    ("claude-3-5-sonnet", "Claude 3.5 Sonnet", "anthropic", ["tool_calling", "vision"], 200000, {}),
    ("o3-preview", "o3 (preview)", "openai", ["tool_calling", "reasoning"], 200000, {"badge": "new"}),
    ("claude-3-haiku", "Claude 3 Haiku", "anthropic", [], 200000, {"hidden": True}),
    ("gpt-4-turbo", "GPT-4 Turbo", "openai", ["tool_calling", "vision"], 128000, {"deprecated": True}),
    ("ftg-1.5", "FTG 1.5", "aitronos", [], 8192, {"legacy": True, "hidden": True}),
]


def _model(key, name, provider, extra, window, flags):
    deprecated = bool(flags.get("deprecated"))
    return {
        "id": "mdl_" + hashlib.sha256(key.encode()).hexdigest()[:12],
        "key": key,
        "name": name,
        "description": f"Sandbox stand-in for {name}: deterministic fake answers, no real model behind it.",
        "provider": provider,
        "is_visible_in_ui": not flags.get("hidden"),
        "is_deprecated": deprecated,
        "availability_status": "deprecated" if deprecated else "general_availability",
        "capabilities": _BASE + extra,
        "context_window": window,
        "badge": flags.get("badge"),
        "_legacy": bool(flags.get("legacy")),
    }


MODELS = {row[0]: _model(*row) for row in _CATALOG}


def supports_reasoning(key):
    return "reasoning" in MODELS[key]["capabilities"]


def _present(model, opts, last_used):
    out = {k: v for k, v in model.items() if not k.startswith("_") and k not in ("context_window", "badge")}
    if not opts["include_capabilities"]:
        out["capabilities"] = None
        del out["description"], out["provider"]
    if opts["include_details"]:
        out["context_window"] = model["context_window"]
        out.update(dict.fromkeys(_EXTENDED))
    if opts["include_pricing"]:
        out["pricing"] = {"message": "Pricing not yet implemented"}
    out["badge"] = model["badge"]
    if opts["include_recent_usage"]:
        out["last_used_at"] = last_used(model["key"])
    return out


def available(world, key):
    """True when ``key`` is in this sandbox's catalog (the current dialect has no ``ftg-3.0``)."""
    return key in MODELS and key not in world.dialect.hidden_models


def list_models(world, call):
    args = call.request.args
    opts = {
        name: query_bool(args, name, default)
        for name, default in (
            ("ui_models_only", False),
            ("include_capabilities", True),
            ("include_details", False),
            ("include_pricing", False),
            ("include_deprecated", False),
            ("include_legacy", False),
            ("include_recent_usage", False),
        )
    }
    principal = call.principal

    def last_used(key):
        if principal.kind != "api_key":
            return None
        stamp = world.last_used.get((principal.api_key, key))
        return world.stamp(stamp) if stamp else None

    models = [
        _present(m, opts, last_used)
        for m in MODELS.values()
        if available(world, m["key"])
        and (m["is_visible_in_ui"] or not opts["ui_models_only"])
        and (not m["is_deprecated"] or opts["include_deprecated"])
        and (not m["_legacy"] or opts["include_legacy"])
    ]
    response = json_response({"models": models, "total_count": len(models)})
    response.headers["Cache-Control"] = "private, max-age=900"
    response.headers["Vary"] = "Authorization"
    return response
