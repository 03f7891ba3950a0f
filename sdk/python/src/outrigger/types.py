"""Values passed to and returned from the clients.

Everything here is an immutable dataclass or an enum mirroring outrigger.fbs. Optional fields
that are `None` are left out of the frame; an empty string or an empty list is sent as set.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence, Tuple, Union


class StatusCode(enum.IntEnum):
    """The wire status set: gRPC's codes, numbered as gRPC numbers them."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class Feature(enum.IntFlag):
    """Feature bits negotiated in the handshake."""

    STREAMING = 1
    CANCEL = 2
    FEEDBACK = 4
    GOAWAY = 8


ALL_FEATURES = Feature.STREAMING | Feature.CANCEL | Feature.FEEDBACK | Feature.GOAWAY


class Verdict(enum.IntEnum):
    """What a guardrail decided about a request or an answer."""

    PASS = 0
    FLAG = 1
    DENY = 2
    REWRITE = 3
    SKIPPED = 4
    ERROR = 5


class ResponseFormatType(enum.IntEnum):
    TEXT = 0
    JSON_OBJECT = 1
    JSON_SCHEMA = 2


# ------------------------------------------------------------------------------------ request


@dataclass(frozen=True)
class ToolCall:
    """A function call the model made (in an answer) or made earlier (in an assistant message)."""

    id: str
    name: str
    arguments: str
    """The arguments as JSON text, exactly as the model produced them."""
    type: str = "function"

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON (raises ValueError if the model produced bad JSON,
        including JSON nested too deeply to decode)."""
        try:
            return json.loads(self.arguments)
        except RecursionError:
            # The text comes from a model through the server: nesting is the caller's problem to
            # refuse, not a reason for an exception the caller never expected.
            raise ValueError("tool call arguments are JSON nested too deeply to decode") from None


@dataclass(frozen=True)
class Message:
    """One chat message. `role` is system, user, assistant, tool or developer."""

    role: str
    content: Optional[str] = None
    name: Optional[str] = None
    tool_calls: Optional[Sequence[ToolCall]] = None
    tool_call_id: Optional[str] = None

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str, name: Optional[str] = None) -> Message:
        return cls("user", content, name=name)

    @classmethod
    def assistant(cls, content: Optional[str] = None, tool_calls: Optional[Sequence[ToolCall]] = None) -> Message:
        return cls("assistant", content, tool_calls=tool_calls)

    @classmethod
    def tool(cls, tool_call_id: str, content: str) -> Message:
        return cls("tool", content, tool_call_id=tool_call_id)


@dataclass(frozen=True)
class Tool:
    """A function the model may call. `parameters_json` is the JSON Schema of its arguments."""

    name: str
    description: Optional[str] = None
    parameters_json: Optional[str] = None
    type: str = "function"

    @classmethod
    def function(cls, name: str, description: Optional[str] = None,
                 parameters: Optional[Mapping[str, Any]] = None) -> Tool:
        """A function tool whose parameters schema is given as a mapping."""
        schema = None if parameters is None else json.dumps(parameters, separators=(",", ":"))
        return cls(name, description, schema)


@dataclass(frozen=True)
class ResponseFormat:
    type: ResponseFormatType = ResponseFormatType.TEXT
    schema_name: Optional[str] = None
    schema_json: Optional[str] = None
    strict: bool = False

    @classmethod
    def json_object(cls) -> ResponseFormat:
        return cls(ResponseFormatType.JSON_OBJECT)

    @classmethod
    def json_schema(cls, name: str, schema: Mapping[str, Any], strict: bool = True) -> ResponseFormat:
        return cls(ResponseFormatType.JSON_SCHEMA, name, json.dumps(schema, separators=(",", ":")), strict)


@dataclass(frozen=True)
class CacheControl:
    bypass: bool = False
    """Neither read nor write the cache."""
    no_store: bool = False
    """Read the cache, but do not store this answer."""
    ttl_ms: int = 0
    """Time to live of a stored answer; 0 takes the cache's configured default."""


@dataclass(frozen=True)
class Metadata:
    """Who is asking and why. Set defaults on the client and override them per call.

    `tags` from a call are merged over the client's tags; every other field set on a call replaces
    the client's value. A field left at None or set to "" is unset and keeps the client's value.
    """

    tenant: Optional[str] = None
    user: Optional[str] = None
    session: Optional[str] = None
    request_id: Optional[str] = None
    prompt_id: Optional[str] = None
    prompt_version: Optional[str] = None
    tags: Optional[Mapping[str, str]] = None
    traceparent: Optional[str] = None
    """W3C trace context of the caller, if any."""

    def merged(self, override: Optional[Metadata]) -> Metadata:
        """These values with every field that `override` sets taken from it instead."""
        if override is None:
            return self
        changes: dict[str, Any] = {}
        for name in ("tenant", "user", "session", "request_id", "prompt_id", "prompt_version", "traceparent"):
            value = getattr(override, name)
            if value:  # "" is unset, as in every SDK: a call cannot blank out a default by accident
                changes[name] = value
        if override.tags is not None:
            changes["tags"] = {**(self.tags or {}), **override.tags}
        return replace(self, **changes)

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__dataclass_fields__)


@dataclass(frozen=True)
class Params:
    """Sampling and output parameters. `None` leaves a parameter to the provider's default."""

    temperature: Optional[float] = None
    top_p: Optional[float] = None
    max_tokens: Optional[int] = None
    seed: Optional[int] = None
    stop: Optional[Sequence[str]] = None
    tools: Optional[Sequence[Tool]] = None
    tool_choice: Optional[str] = None
    """"auto", "none", "required" or the name of a function."""
    response_format: Optional[ResponseFormat] = None
    extra_json: Optional[str] = None
    """Provider-specific fields: a JSON object passed through."""

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__dataclass_fields__)


@dataclass(frozen=True)
class ChatRequest:
    """A request exactly as it goes on the wire (the clients build it from their arguments)."""

    model: Optional[str]
    messages: Optional[Sequence[Message]]
    params: Optional[Params] = None
    stream: bool = False
    metadata: Optional[Metadata] = None
    timeout_ms: int = 0
    cache: Optional[CacheControl] = None


MessagesLike = Union[str, Sequence[Union[Message, Mapping[str, Any]]]]
"""A single user message as a string, or a sequence of `Message`s or dicts with the same keys."""


# ------------------------------------------------------------------------------------ response


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # read from the provider's prompt cache; part of prompt_tokens
    reasoning_tokens: int = 0  # part of completion_tokens
    cache_write_tokens: int = 0  # written to the provider's prompt cache; part of prompt_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class GuardrailVerdict:
    guardrail: str
    verdict: Verdict
    reason: str = ""


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of a tool call in a streamed answer. `arguments` is appended to the call at
    `index`; the other fields are set on the call's first fragment."""

    index: int
    id: Optional[str] = None
    type: Optional[str] = None
    name: Optional[str] = None
    arguments: Optional[str] = None


@dataclass(frozen=True)
class StreamStart:
    """The first frame of a streamed answer."""

    model: str
    """The model answering: the upstream's name for it when it said one."""
    provider: str
    cache_hit: bool
    trace_id: str
    system_fingerprint: str = ""
    """The upstream's backend configuration id, when it sent one as the stream began."""
    service_tier: str = ""
    """The tier the upstream serves the answer on, when it said."""


@dataclass(frozen=True)
class Chunk:
    """One piece of a streamed answer."""

    seq: int
    delta: str
    tool_calls: Tuple[ToolCallDelta, ...] = ()
    refusal: bool = False
    """`delta` is the model's refusal text, not content."""


@dataclass(frozen=True)
class Response:
    """A finished answer. For a stream, `content` and `tool_calls` are assembled from its chunks."""

    content: str
    finish_reason: str = ""
    tool_calls: Tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    cache_hit: bool = False
    trace_id: str = ""
    verdicts: Tuple[GuardrailVerdict, ...] = ()
    model: str = ""
    provider: str = ""
    """The provider instance that answered (known for streams, from their first frame)."""
    origin: str = ""
    reached_provider: bool = False
    """The daemon started a provider attempt for this request."""
    refusal: bool = False
    """The answer is the model's refusal: `content` is refusal text, not an answer to parse
    (`finish_reason` is "content_filter")."""
    system_fingerprint: str = ""
    """The upstream's backend configuration id, when it sent one."""
    service_tier: str = ""
    """The tier the upstream served the answer on, when it said."""


@dataclass(frozen=True)
class ServerInfo:
    """What the daemon said in its handshake answer."""

    proto_major: int
    proto_minor: int
    server_version: str
    max_frame_size: int
    max_concurrent_streams: int
    features: Feature
    heartbeat_ms: int
