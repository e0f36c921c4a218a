"""The reference IM cluster tested by imfault: sans-IO cores (hub, access node) and their drivers.

Public surface: the configurations, the cores, the wire helpers, the token function and the
in-memory cluster. The asyncio client is `imcluster.client`.
"""

from ._access import AccessCore
from ._auth import check_token, user_token
from ._config import BUGS, DELIVERY_MODES, GOSSIP_MODES, AccessConfig, HubConfig
from ._hlc import Hlc
from ._hub import HubCore
from ._memnet import MemClient, MemCluster
from ._state import Entry, ReplicaState
from ._wire import (
    MAX_CLIENT_FRAME,
    MAX_PEER_FRAME,
    FrameTooLarge,
    LineDecoder,
    WireError,
    encode,
    parse_frame,
    validate_client_frame,
)

__all__ = [
    "BUGS",
    "DELIVERY_MODES",
    "GOSSIP_MODES",
    "MAX_CLIENT_FRAME",
    "MAX_PEER_FRAME",
    "AccessConfig",
    "AccessCore",
    "Entry",
    "FrameTooLarge",
    "Hlc",
    "HubConfig",
    "HubCore",
    "LineDecoder",
    "MemClient",
    "MemCluster",
    "ReplicaState",
    "WireError",
    "check_token",
    "encode",
    "parse_frame",
    "user_token",
    "validate_client_frame",
]

_CLIENT_NAMES = ("Client", "AdminClient", "SendRejected")


def __getattr__(name: str) -> object:
    """`imcluster.Client` etc. come from `imcluster.client`, imported (with asyncio) on first use."""
    if name in _CLIENT_NAMES:
        from . import client
        return getattr(client, name)
    raise AttributeError(f"module 'imcluster' has no attribute {name!r}")
