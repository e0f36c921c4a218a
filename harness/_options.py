"""The one schema of the `imfault run` options: `RunOptions` and its `RUN_OPTIONS`.

Each `RunOptions` field is declared once, with `opt(...)`: its default, help, choices, range
check, its `ClusterSpec` field (if it shapes the cluster) and its pytest default (if the pytest
plugin has an `--im-...` option and ini twin for it). From that one declaration come:

* the `imfault run` arguments and their validation (`add_run_arguments`, `options_from_namespace`),
* the pytest plugin's options and ini twins (`harness._pytest_options`),
* the reproducing command line (`command_args`, `RunOptions.command()`),
* the `ClusterSpec` of a run (`cluster_spec`) and the spec fields a shared cluster is compared on.

To add an option, add one field here (and read it where it acts). The mode, bug and partition
style names come from `imcluster` (`GOSSIP_MODES`, `DELIVERY_MODES`, `BUGS`, `PARTITION_STYLES`).
Imports nothing heavy: the pytest plugin loads it at startup.
"""

from __future__ import annotations

import argparse
import shlex
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from imcluster._config import BUGS, DELIVERY_MODES, GOSSIP_MODES, PARTITION_STYLES

from .errors import UsageError

__all__ = ["BACKENDS", "RUN_OPTIONS", "OptionSpec", "RunOptions", "add_run_arguments",
           "cluster_spec", "cluster_spec_fields_of", "command_args", "fmt_value",
           "options_from_namespace", "problem"]

BACKENDS = ("local", "docker", "sim", "swarm")
"""Every backend name (the one place; `harness.backends.BACKEND_NAMES` is this tuple)."""
_NO_PYTEST = object()
_SAME = object()


@dataclass(frozen=True)
class _Meta:
    help: str
    choices: tuple[str, ...] | None = None
    check: Callable[[Any], bool] | None = None
    requirement: str = ""              # "must be positive": the message when `check` fails
    cluster: str | None = None         # the ClusterSpec field it sets
    pytest_default: Any = _NO_PYTEST   # an --im-NAME option and ini twin im_NAME, this default
    cli_default: Any = _SAME           # the CLI's default when not the field's (seed: random)
    metavar: str | None = None
    join: bool = False                 # list written as one comma-joined flag (else repeated)


def opt(default: Any, help: str, **meta: Any) -> Any:
    """A `RunOptions` field with its option metadata (see `_Meta`)."""
    info = {"option": _Meta(help=help, **meta)}
    if isinstance(default, list):
        return field(default_factory=list, metadata=info)
    return field(default=default, metadata=info)


def _positive(x: Any) -> bool:
    return bool(x > 0)


def _not_negative(x: Any) -> bool:
    return bool(x >= 0)


def _probability(x: Any) -> bool:
    return bool(0 <= x <= 1)


def _at_least(n: int) -> Callable[[Any], bool]:
    return lambda x: bool(x >= n)


def _name_ok(x: Any) -> bool:
    import re
    return not x or bool(re.match(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$", str(x)))


@dataclass
class RunOptions:
    """Every `imfault run` option, named as in `test.json` (times: ms, except s where noted)."""

    backend: str = opt("local", "local (default), docker, swarm (Docker Swarm) or sim (virtual time)",
                       choices=BACKENDS, pytest_default="local")
    system: str = opt("imcluster", "system under test (default imcluster; `imfault systems` "
                      "lists them)", check=_name_ok, requirement="must be a system name",
                      metavar="NAME", pytest_default="imcluster")
    dcs: int = opt(5, "number of datacenters (default 5)", check=_at_least(1),
                   requirement="must be at least 1", cluster="dcs", pytest_default=3)
    access_per_dc: int = opt(1, "access nodes per DC (default 1)", check=_at_least(1),
                             requirement="must be at least 1", cluster="access_per_dc")
    users: int = opt(50, "simulated users (default 50)", check=_at_least(2),
                     requirement="must be at least 2")
    rate: float = opt(50.0, "client ops per second overall (default 50)", check=_positive,
                      requirement="must be positive (ops/s)")
    time_limit: float = opt(30.0, "main phase length in s (default 30)", check=_positive,
                            requirement="must be positive (s)", pytest_default=8.0)
    # (opt([]) makes a field(default_factory=list): no shared mutable default)
    nemesis: list[str] = opt([], "fault(s) to inject (see `imfault nemeses`); repeatable",  # noqa: RUF009
                             metavar="NAME[,NAME...]", join=True)
    nemesis_interval: float = opt(5.0, "s between a fault's start and stop (default 5)",
                                  check=_positive, requirement="must be positive (s)")
    wan_latency: float = opt(200.0, "one-way WAN latency in ms (default 200)",
                             check=_not_negative, requirement="must not be negative (ms)",
                             cluster="wan_latency_ms", pytest_default=200.0)
    wan_jitter: float = opt(0.0, "WAN jitter in ms (default 0)", check=_not_negative,
                            requirement="must not be negative (ms)", cluster="wan_jitter_ms")
    gossip_interval: float = opt(100.0, "gossip round in ms (default 100)", check=_positive,
                                 requirement="must be positive (ms)",
                                 cluster="gossip_interval_ms")
    gossip: str = opt(GOSSIP_MODES[0], f"one of {', '.join(GOSSIP_MODES)}",
                      choices=GOSSIP_MODES, cluster="gossip")
    gossip_fanout: int = opt(1, "rumor modes: peers called per round (default 1)",
                             check=_at_least(1), requirement="must be at least 1",
                             metavar="K", cluster="gossip_fanout")
    partition_style: str = opt(PARTITION_STYLES[0], f"one of {', '.join(PARTITION_STYLES)}",
                               choices=PARTITION_STYLES, cluster="partition_style")
    delivery: str = opt(DELIVERY_MODES[0], f"one of {', '.join(DELIVERY_MODES)}",
                        choices=DELIVERY_MODES, cluster="delivery")
    bug: list[str] = opt([], f"seeded bug; repeatable: {', '.join(BUGS)}",  # noqa: RUF009
                         choices=BUGS,
                         metavar="NAME", cluster="bugs")
    roam: float = opt(0.1, "chance a session starts in a foreign DC", check=_probability,
                      requirement="is a probability in [0, 1]")
    locality: float = opt(0.7, "chance a recipient is in the sender's DC", check=_probability,
                          requirement="is a probability in [0, 1]")
    recovery_timeout: float = opt(60.0, "bound of the recovery phase in s", check=_positive,
                                  requirement="must be positive (s)")
    seed: int = opt(0, "seed of every random choice (default: random)", check=_not_negative,
                    requirement="must be a non-negative integer", cluster="seed",
                    pytest_default=None, cli_default=None)
    store: str = opt("store", "store directory (default store/)", pytest_default="store")
    name: str = opt("", "test name (default: the nemesis names)", check=_name_ok,
                    requirement="may hold letters, digits and . _ + - only")
    exactly_once: bool = opt(False, "avoidable duplicated deliveries make the run invalid")
    schedule: str = opt("", "replay the fault schedule (and workload shape and seed) of this "
                        "schedule.json instead of drawing one", metavar="FILE")

    @property
    def dc_names(self) -> list[str]:
        return [f"dc{i}" for i in range(1, self.dcs + 1)]

    def test_name(self) -> str:
        if self.name:
            return self.name
        return "-".join(self.nemesis) if self.nemesis else "noop"

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()}

    def command(self) -> str:
        """The command line that reproduces this run."""
        return shlex.join(["imfault", "run", *command_args(self)])


@dataclass(frozen=True)
class OptionSpec:
    """One run option as the schema describes it (built from a `RunOptions` field)."""

    name: str
    type: type                 # str, int, float, bool or list (of str)
    default: Any
    help: str
    choices: tuple[str, ...] | None
    check: Callable[[Any], bool] | None
    requirement: str
    cluster: str | None
    pytest_default: Any
    cli_default: Any
    metavar: str | None
    join: bool

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def pytest_name(self) -> str | None:
        """`im_NAME` (the ini name and dest), or None when pytest has no such option."""
        return None if self.pytest_default is _NO_PYTEST else f"im_{self.name}"

    @property
    def pytest_flag(self) -> str | None:
        return None if self.pytest_name is None else "--" + self.pytest_name.replace("_", "-")


def _specs() -> tuple[OptionSpec, ...]:
    hints = typing.get_type_hints(RunOptions)
    specs = []
    for f in fields(RunOptions):
        meta: _Meta = f.metadata["option"]
        hint = hints[f.name]
        kind = list if typing.get_origin(hint) is list else hint
        default = [] if kind is list else f.default
        specs.append(OptionSpec(f.name, kind, default, meta.help, meta.choices, meta.check,
                                meta.requirement, meta.cluster, meta.pytest_default,
                                default if meta.cli_default is _SAME else meta.cli_default,
                                meta.metavar, meta.join))
    return tuple(specs)


RUN_OPTIONS: tuple[OptionSpec, ...] = _specs()
"""Every run option, in `RunOptions` field order."""


def problem(spec: OptionSpec, value: Any, flag: str | None = None) -> str | None:
    """Why `value` is not valid for `spec` (a message naming `flag`), or None."""
    flag = flag or spec.flag
    items = value if spec.type is list else [value]
    if spec.choices is not None:
        bad = [v for v in items if v not in spec.choices]
        if bad:
            return (f"{flag} must be one of {', '.join(spec.choices)}, not "
                    f"{', '.join(repr(v) for v in bad)}")
    if spec.check is not None and value is not None and not spec.check(value):
        return f"{flag} {spec.requirement} (got {value!r})"
    return None


# ---------------------------------------------------------------- the CLI


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """One argument per run option (lists repeatable and comma-separated, bools flags)."""
    for spec in RUN_OPTIONS:
        if spec.type is bool:
            parser.add_argument(spec.flag, action="store_true", help=spec.help)
        elif spec.type is list:
            parser.add_argument(spec.flag, action="append", default=[], metavar=spec.metavar,
                                help=spec.help)
        else:
            parser.add_argument(spec.flag, type=spec.type, default=spec.cli_default,
                                metavar=spec.metavar, help=spec.help)


def options_from_namespace(args: argparse.Namespace | Mapping[str, Any],
                           fill: Mapping[str, Callable[[], Any]] | None = None) -> RunOptions:
    """Validate parsed values into `RunOptions` (`UsageError` with the first problem). Lists
    are split at commas; `fill` gives values for options left None (the seed: random)."""
    values = dict(vars(args) if isinstance(args, argparse.Namespace) else args)
    chosen: dict[str, Any] = {}
    for spec in RUN_OPTIONS:
        value = values.get(spec.name, spec.cli_default)
        if spec.type is list:
            value = [v.strip() for item in value or [] for v in str(item).split(",") if v.strip()]
        if value is None and fill and spec.name in fill:
            value = fill[spec.name]()
        message = problem(spec, value)
        if message:
            raise UsageError(message)
        if value is not None:
            chosen[spec.name] = value
    return RunOptions(**chosen)


def fmt_value(value: Any) -> str:
    """A value as the command line writes it (integral floats without `.0`)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def command_args(options: RunOptions) -> list[str]:
    """The `imfault run` arguments that reproduce `options` (every option, `--name` as the
    test's name; empty lists, false flags and an empty `--schedule` left out)."""
    args: list[str] = []
    for spec in RUN_OPTIONS:
        value = options.test_name() if spec.name == "name" else getattr(options, spec.name)
        if spec.type is bool:
            args += [spec.flag] if value else []
        elif spec.type is list:
            items = [",".join(value)] if spec.join and value else list(value)
            for item in items:
                args += [spec.flag, str(item)]
        elif spec.name != "schedule" or value:
            args += [spec.flag, fmt_value(value)]
    return args


# ---------------------------------------------------------------- the cluster


def cluster_spec_fields_of(options: RunOptions, with_seed: bool = True) -> dict[str, Any]:
    """The `ClusterSpec` fields `options` set (lists as tuples)."""
    values = {}
    for spec in RUN_OPTIONS:
        if spec.cluster and (with_seed or spec.name != "seed"):
            value = getattr(options, spec.name)
            values[spec.cluster] = tuple(value) if isinstance(value, list) else value
    return values


def cluster_spec(options: RunOptions, work_dir: Path) -> Any:
    """The `ClusterSpec` of a run with `options` whose nodes work in `work_dir`."""
    from .backends._base import ClusterSpec
    return ClusterSpec(work_dir=work_dir, **cluster_spec_fields_of(options))
