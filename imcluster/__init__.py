"""The reference IM cluster tested by imfault: sans-IO cores (hub, access node) and their drivers.

Public surface: the configurations, the cores, the wire helpers, the token function and the
in-memory cluster. The asyncio client is `imcluster.client`.
"""

from typing import TYPE_CHECKING

from . import _accel
from ._config import (
    BUGS,
    DELIVERY_MODES,
    GOSSIP_MODES,
    PARTITION_STYLES,
    AccessConfig,
    HubConfig,
)

_accel.activate(__path__, "imcluster")  # the compiled build when built and fresh (docs/accel.md)

if TYPE_CHECKING:
    from ._access import AccessCore
    from ._auth import check_token, user_token
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
    "PARTITION_STYLES",
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
_LAZY = {"AccessCore": "_access", "check_token": "_auth", "user_token": "_auth", "Hlc": "_hlc",
         "HubCore": "_hub", "MemClient": "_memnet", "MemCluster": "_memnet", "Entry": "_state",
         "ReplicaState": "_state", "MAX_CLIENT_FRAME": "_wire", "MAX_PEER_FRAME": "_wire",
         "FrameTooLarge": "_wire", "LineDecoder": "_wire", "WireError": "_wire",
         "encode": "_wire", "parse_frame": "_wire", "validate_client_frame": "_wire"}
"""Imported on first use, so that the configuration names (`GOSSIP_MODES`, `BUGS`, ...) cost
only `_config` to import (the harness's option schema and its pytest plugin load them)."""


def __getattr__(name: str) -> object:
    """The cores etc. from their modules on first use; `imcluster.Client` etc. from
    `imcluster.client` (with asyncio)."""
    import importlib
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _CLIENT_NAMES:
        from . import client
        return getattr(client, name)
    raise AttributeError(f"module 'imcluster' has no attribute {name!r}")
