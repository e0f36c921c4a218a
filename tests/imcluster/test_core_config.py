"""Validation and defaults of HubConfig / AccessConfig (imcluster._config)."""

from __future__ import annotations

import pytest

from imcluster._config import BUGS, DELIVERY_MODES, GOSSIP_MODES, AccessConfig, HubConfig


def test_defaults() -> None:
    config = HubConfig(dc="dc1", peers=("dc2", "dc1", "dc3"))
    assert config.node == "dc1-hub" and config.peers == ("dc2", "dc3")
    assert (config.gossip, config.delivery, config.bugs) == ("push+anti-entropy", "durable",
                                                            frozenset())
    assert (config.gossip_interval_ms, config.forward_timeout_ms) == (100, 2000)
    assert (config.max_batch_entries, config.max_batch_bytes) == (256, 256 * 1024)
    assert config.eager_push and config.anti_entropy
    assert GOSSIP_MODES == ("push+anti-entropy", "anti-entropy", "push", "rumor-push",
                            "rumor-pull", "rumor-push-pull")
    assert config.gossip_fanout == 1
    assert DELIVERY_MODES == ("durable", "online-first")
    assert len(BUGS) == 6


@pytest.mark.parametrize("gossip, bugs, push, anti_entropy", [
    ("push", frozenset(), True, False),
    ("anti-entropy", frozenset(), False, True),
    ("push+anti-entropy", frozenset({"no-anti-entropy"}), True, False),
])
def test_gossip_switches(gossip: str, bugs: frozenset[str], push: bool, anti_entropy: bool) -> None:
    config = HubConfig(dc="dc1", gossip=gossip, bugs=bugs)
    assert (config.eager_push, config.anti_entropy) == (push, anti_entropy)


def test_bad_bug_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        HubConfig(dc="dc1", bugs=frozenset({"no-tombstones", "typo"}))
    assert "typo" in str(info.value)
    assert all(bug in str(info.value) for bug in BUGS)


@pytest.mark.parametrize("changes", [{"gossip": "gossipy"}, {"delivery": "maybe"}, {"dc": ""},
                                     {"gossip_interval_ms": 0}, {"max_batch_entries": 0}])
def test_invalid_settings(changes: dict) -> None:
    with pytest.raises(ValueError):
        HubConfig(**{"dc": "dc1", **changes})


def test_access_config_accepts_a_text_secret() -> None:
    assert AccessConfig(dc="dc1", node="dc1-a1", secret="s").secret == b"s"  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AccessConfig(dc="dc1", node="", secret=b"s")
