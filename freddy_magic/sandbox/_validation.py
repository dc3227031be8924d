"""Validation of ``POST /v1/model/response`` bodies, rule for rule as the API documents them.

Unknown top-level fields are refused (a typo such as ``max_tokens`` for
``max_output_synapses`` should fail loudly, not be silently ignored); every other rule mirrors
the backend's documented 422s. What the official SDK sends is accepted (``personalConnector``
tools, a ``null`` system-tool configuration) and what its types forbid is refused: a message
must have ``content`` (the older docs' ``texts`` list alone is a 422, as ``content`` is required),
and ``blocks`` is a mode of the output-modes list, not a value ``output_mode`` takes. The result
is a plain :class:`ResponseRequest`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from . import _models
from ._bodies import get_bool, get_int, get_list, get_number, get_object, get_str, reject_unknown
from ._envelope import ApiError, invalid

FIELDS = {
    "inputs",
    "organization_id",
    "model",
    "thread_id",
    "stream",
    "instructions",
    "temperature",
    "top_p",
    "max_output_synapses",
    "reasoning",
    "output_mode",
    "tools",
    "system_tools",
    "assistant_id",
    "workflow_id",
    "space_id",
    "vector_store_ids",
    "previous_response_id",
    "edit_message_id",
    "previous_message_id",
    "include",
    "metadata",
    "disable_rules",
    "store",
    "rules",
    "skill_ids",
    "background",
}
MESSAGE_FIELDS = {"role", "content", "texts", "images", "audio", "files", "tool_call_id", "name", "id"}
ROLES = ("user", "assistant", "system", "tool")
OUTPUT_MODES = ("text", "plain", "structured", "json")
EFFORTS = ("off", "low", "medium", "high", "maximum")
SUMMARIES = ("off", "auto", "concise", "detailed")
SYSTEM_TOOLS = (
    "web_search",
    "code_interpreter",
    "image_operations",
    "file_search",
    "computer_use",
    "personal_connectors",
)
INCLUDES = (
    "all",
    "tools.available",
    "tools.used",
    "web_search.sources",
    "code_interpreter.outputs",
    "file_search.results",
    "message.logprobs",
    "reasoning.encrypted",
    "request.logs",
    "usage.detailed",
    "rules.debug",
    "rules",
)
_TOOL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_MCP_ID = re.compile(r"^mcp_[a-f0-9]{32}$")


@dataclass
class ResponseRequest:
    messages: list  # [(role, text)]
    model: str
    stream: bool = False
    instructions: str | None = None
    thread_id: str | None = None
    organization_id: str | None = None
    max_output_synapses: int | None = None
    output_mode: str = "text"
    reasoning: dict | None = None
    store: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def prompt(self):
        users = [text for role, text in self.messages if role == "user"]
        return users[-1] if users else self.messages[-1][1]


def _content_text(message, where):
    content = message.get("content")
    if content is not None:
        if isinstance(content, str):
            return content
        if isinstance(content, dict):
            return json.dumps(content, sort_keys=True)
        if isinstance(content, list):
            texts = []
            for i, block in enumerate(content):
                if not isinstance(block, dict):
                    raise invalid(f"{where}.content.{i}", "Content blocks must be objects", "VALIDATION_ERROR")
                if block.get("type") == "text":
                    texts.append(get_str(block, "text", required=True, field=f"{where}.content.{i}.text"))
            return "\n".join(texts)
        raise invalid(
            f"{where}.content",
            "Content must be a string, a list of blocks or an object",
            "VALIDATION_ERROR",
            kind="union_type",
        )
    raise invalid(f"{where}.content", "Field 'content' is required", "VALIDATION_ERROR", kind="missing")


def _messages(body):
    inputs = body.get("inputs")
    if inputs is None:
        raise invalid("inputs", "Field 'inputs' is required", "VALIDATION_ERROR", kind="missing")
    if not isinstance(inputs, list):
        raise invalid("inputs", "Field 'inputs' must be an array of messages", "VALIDATION_ERROR", kind="list_type")
    if not inputs:
        raise invalid("inputs", "Field 'inputs' must contain at least one message", kind="too_short")
    messages = []
    for i, message in enumerate(inputs):
        where = f"inputs.{i}"
        if not isinstance(message, dict):
            raise invalid(where, "Each input must be a message object", "VALIDATION_ERROR", kind="model_type")
        reject_unknown(message, MESSAGE_FIELDS, prefix=where + ".")
        role = get_str(message, "role", required=True, field=f"{where}.role")
        if role not in ROLES:
            raise invalid(f"{where}.role", f"Role must be one of {', '.join(ROLES)}")
        if role == "tool" and not get_str(message, "tool_call_id", field=f"{where}.tool_call_id"):
            raise invalid(f"{where}.tool_call_id", "Messages with role 'tool' require 'tool_call_id'")
        get_list(message, "files", max_items=10, field=f"{where}.files")
        messages.append((role, _content_text(message, where)))
    return messages


def _check_tools(body):
    tools = get_list(body, "tools", max_items=128) or []
    labels = set()
    for i, tool in enumerate(tools):
        where = f"tools.{i}"
        if not isinstance(tool, dict):
            raise invalid(where, "Each tool must be an object", "VALIDATION_ERROR")
        kind = tool.get("type")
        if kind == "function":
            name = get_str(tool, "name", required=True, field=f"{where}.name")
            if len(name) > 64 or not _TOOL_NAME.match(name):
                raise invalid(f"{where}.name", "Tool names must match ^[a-zA-Z_][a-zA-Z0-9_]*$ and be ≤ 64 chars")
            get_str(tool, "description", max_len=1024, field=f"{where}.description")
            params = get_object(tool, "parameters", field=f"{where}.parameters")
            if params is not None and len(json.dumps(params)) > 32 * 1024:
                raise invalid(f"{where}.parameters", "Tool parameters must be at most 32 KB")
        elif kind == "mcp":
            label = get_str(tool, "server_label", required=True, field=f"{where}.server_label")
            if label in labels:
                raise invalid(f"{where}.server_label", "MCP server labels must be unique")
            labels.add(label)
            config_id, url = tool.get("configuration_id"), tool.get("server_url")
            if (config_id is None) == (url is None):
                raise invalid(where, "MCP tools need exactly one of 'configuration_id' or 'server_url'")
            if config_id is not None and not (isinstance(config_id, str) and _MCP_ID.match(config_id)):
                raise invalid(f"{where}.configuration_id", "configuration_id must match ^mcp_[a-f0-9]{32}$")
        elif kind == "personalConnector":
            ids = get_list(tool, "configuration_ids", field=f"{where}.configuration_ids") or []
            if not all(isinstance(item, str) for item in ids):
                raise invalid(f"{where}.configuration_ids", "configuration_ids must be a list of strings")
        else:
            raise invalid(f"{where}.type", "Tool type must be 'function', 'mcp' or 'personalConnector'")


def _check_system_tools(body):
    system_tools = get_object(body, "system_tools") or {}
    for name, config in system_tools.items():
        if name == "image_generation":
            raise invalid("system_tools.image_generation", "'image_generation' was renamed to 'image_operations'")
        if name not in SYSTEM_TOOLS:
            raise invalid(f"system_tools.{name}", f"Unknown system tool '{name}'")
        if config is None:  # the SDK's type allows a null configuration: the tool's defaults
            continue
        if not isinstance(config, dict) or config.get("mode", "auto") not in ("on", "off", "auto"):
            raise invalid(f"system_tools.{name}.mode", "System tool mode must be 'on', 'off' or 'auto'")


def _check_misc(body):
    for name in (
        "assistant_id",
        "workflow_id",
        "space_id",
        "previous_response_id",
        "edit_message_id",
        "previous_message_id",
    ):
        get_str(body, name)
    for name in ("vector_store_ids", "rules", "skill_ids"):
        get_list(body, name)
    chosen = [n for n in ("previous_response_id", "edit_message_id", "previous_message_id") if body.get(n)]
    if len(chosen) > 1:
        raise invalid(chosen[1], f"'{chosen[0]}' and '{chosen[1]}' cannot be used together")
    if chosen and chosen[0] != "previous_response_id" and not body.get("thread_id"):
        raise invalid(chosen[0], f"'{chosen[0]}' requires 'thread_id'")
    for i, item in enumerate(get_list(body, "include") or []):
        if item not in INCLUDES:
            raise invalid(f"include.{i}", f"Unknown include value {item!r}")
    metadata = get_object(body, "metadata") or {}
    if len(metadata) > 16:
        raise invalid("metadata", "Metadata allows at most 16 pairs")
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise invalid(f"metadata.{key}", "Metadata keys are ≤ 64 chars; values are strings ≤ 512 chars")
    if get_bool(body, "background"):
        raise invalid("background", "Background responses are not supported by the sandbox")


def _check_reasoning(body, model):
    reasoning = get_object(body, "reasoning")
    if reasoning is None:
        return None
    effort = reasoning.get("effort", "medium")
    summary = reasoning.get("summary", "auto")
    if effort not in EFFORTS:
        raise invalid("reasoning.effort", f"Reasoning effort must be one of {', '.join(EFFORTS)}")
    if summary not in SUMMARIES:
        raise invalid("reasoning.summary", f"Reasoning summary must be one of {', '.join(SUMMARIES)}")
    if effort != "off" and not _models.supports_reasoning(model):
        raise invalid("reasoning", f"Model '{model}' does not support reasoning")
    return {"effort": effort, "summary": summary}


def parse(body, principal, world):
    """Validate a response request body; raises the 422 (or 403) the real API would."""
    reject_unknown(body, FIELDS)
    messages = _messages(body)
    model = get_str(body, "model") or world.dialect.default_model
    if not _models.available(world, model):
        raise invalid("model", f"Model '{model}' is not available. See GET /v1/models for valid keys.")
    get_number(body, "temperature", 0.0, 1.0)
    get_number(body, "top_p", 0.0, 1.0)
    instructions = get_str(body, "instructions", max_len=5000)
    output_mode = get_str(body, "output_mode") or "text"
    if output_mode == "json_schema":
        raise invalid("output_mode", "json_schema mode is not yet implemented")
    if output_mode not in OUTPUT_MODES:
        raise invalid("output_mode", f"Output mode must be one of {', '.join(OUTPUT_MODES)}")
    _check_tools(body)
    _check_system_tools(body)
    _check_misc(body)
    if get_bool(body, "disable_rules") and principal.kind != "api_key":
        raise ApiError(
            403,
            "OPERATION_NOT_ALLOWED",
            "disable_rules is only available with API keys.",
            "disable_rules requires API-key authentication",
        )
    return ResponseRequest(
        messages=messages,
        model=model,
        stream=bool(get_bool(body, "stream")),
        instructions=instructions,
        thread_id=get_str(body, "thread_id"),
        organization_id=get_str(body, "organization_id"),
        max_output_synapses=get_int(body, "max_output_synapses", 1),
        output_mode=output_mode,
        reasoning=_check_reasoning(body, model),
        store=get_bool(body, "store", True),
    )
