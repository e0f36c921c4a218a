"""Run directory layout and `latest` links."""

import os

from harness.store import create_run_dir, read_json, runs, write_json


def test_layout_and_latest_links(tmp_path):
    run = create_run_dir(tmp_path, "partition-halves", wall_time=0)
    assert run == tmp_path / "partition-halves" / "19700101T000000"
    assert (run / "logs").is_dir()
    assert (tmp_path / "partition-halves" / "latest").resolve() == run.resolve()
    assert (tmp_path / "latest").resolve() == run.resolve()
    second = create_run_dir(tmp_path, "partition-halves", wall_time=0)
    assert second.name == "19700101T000000-1"
    assert (tmp_path / "latest").resolve() == second.resolve()
    assert not os.path.isabs(os.readlink(tmp_path / "latest"))  # store can be moved


def test_write_json_atomic_and_runs_listing(tmp_path):
    run = create_run_dir(tmp_path, "noop")
    write_json(run / "test.json", {"seed": 7})
    assert read_json(run / "test.json") == {"seed": 7}
    assert not list(run.glob(".*tmp"))
    assert runs(tmp_path) == [run]
