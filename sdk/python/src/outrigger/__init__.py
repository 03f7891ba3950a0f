"""Python client for the Outrigger sidecar.

    from outrigger import Client

    with Client() as client:
        answer = client.chat("Hello!", model="gpt-4o-mini")
        print(answer.content)

`Client` is blocking and thread-safe; `AsyncClient` is its asyncio twin. Both multiplex every
call over one Unix socket connection to the daemon and raise `OutriggerError` subclasses named
after the wire status codes.
"""

from ._socket import default_socket_candidates, resolve_socket_path
from ._version import __version__
from .aio import AsyncClient, AsyncStream
from .client import Client, PendingCall, Stream
from .errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    ClientClosed,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    HandshakeError,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    OutriggerError,
    PermissionDenied,
    QueueFull,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
    error_for,
)
from .types import (
    CacheControl,
    ChatRequest,
    Chunk,
    Feature,
    GuardrailVerdict,
    Message,
    Metadata,
    Params,
    Response,
    ResponseFormat,
    ResponseFormatType,
    ServerInfo,
    StatusCode,
    StreamStart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    Verdict,
)

__all__ = [
    "Aborted",
    "AlreadyExists",
    "AsyncClient",
    "AsyncStream",
    "CacheControl",
    "Cancelled",
    "ChatRequest",
    "Chunk",
    "Client",
    "ClientClosed",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Feature",
    "GuardrailVerdict",
    "HandshakeError",
    "Internal",
    "InvalidArgument",
    "Message",
    "Metadata",
    "NotFound",
    "OutOfRange",
    "OutriggerError",
    "Params",
    "PendingCall",
    "PermissionDenied",
    "QueueFull",
    "ResourceExhausted",
    "Response",
    "ResponseFormat",
    "ResponseFormatType",
    "ServerInfo",
    "StatusCode",
    "Stream",
    "StreamStart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "Usage",
    "Verdict",
    "__version__",
    "default_socket_candidates",
    "error_for",
    "resolve_socket_path",
]
