"""A scenario that fails on purpose: the cluster runs with the seeded bug `gateway-drop` (a
message whose cross-DC forward fails is dropped instead of pooled) while one DC is cut off.

pytest does not collect `examples/` by default (testpaths = tests); run it with
`pytest examples/test_failing_scenario.py` to see what a failing scenario prints: the verdict
table, the run directory, the report and the command that reproduces the run.
"""

import pytest

from harness.pytest_plugin import ImRun


@pytest.mark.im_nemesis("partition-one", nemesis_interval=2)
def test_gateway_drop_loses_messages_under_a_partition(im_run: ImRun) -> None:
    # Every recipient in another DC, so many messages cross the cut WAN.
    result = im_run(bug=["gateway-drop"], time_limit=6, locality=0.0, rate=30)
    result.assert_valid()
