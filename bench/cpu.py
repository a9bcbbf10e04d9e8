"""CPU accounting: where the machine's CPU time went during a measured window.

A process tree's CPU time is the sum over its live processes of user + system + the time of
children they have reaped. The difference of two samples is then exact even when processes
come and go in between (a connection's backend that exits is reaped by the postmaster, and its
time moves into the postmaster's children times).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import psutil

GENERATOR = "load generator"


@dataclass(frozen=True)
class Sample:
    at: float
    groups: dict[str, float]
    per_pid: dict[str, dict[int, float]]
    machine: dict[str, float]


@dataclass(frozen=True)
class CpuUsage:
    """CPU seconds per group over `wall` seconds, and the machine-wide busy time."""

    wall: float
    groups: dict[str, float]
    per_pid: dict[str, dict[int, float]] = field(default_factory=dict)
    machine_busy: float = 0.0
    machine_iowait: float = 0.0
    machine_steal: float = 0.0

    @property
    def cores(self) -> int:
        return psutil.cpu_count() or 1

    @property
    def ours(self) -> float:
        return sum(self.groups.values())

    @property
    def others(self) -> float:
        """Busy time of processes outside the benchmark (other sessions sharing the machine)."""
        return max(0.0, self.machine_busy - self.ours)


def _tree(pid: int) -> tuple[float, dict[int, float]]:
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, {}
    total = 0.0
    per_pid: dict[int, float] = {}
    for process in processes:
        try:
            t = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        own = t.user + t.system
        per_pid[process.pid] = own
        total += own + t.children_user + t.children_system
    return total, per_pid


def _self_seconds() -> float:
    # Own threads only: the platform's processes are our children too and are counted apart.
    t = os.times()
    return t.user + t.system


def _machine() -> dict[str, float]:
    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
    return {
        "busy": busy,
        "iowait": getattr(t, "iowait", 0.0),
        "steal": getattr(t, "steal", 0.0),
    }


def sample(trees: dict[str, int], include_self: bool = True) -> Sample:
    groups: dict[str, float] = {}
    per_pid: dict[str, dict[int, float]] = {}
    machine = _machine()
    for name, pid in trees.items():
        groups[name], per_pid[name] = _tree(pid)
    if include_self:
        groups[GENERATOR] = _self_seconds()
    return Sample(time.perf_counter(), groups, per_pid, machine)


def usage(before: Sample, after: Sample) -> CpuUsage:
    return CpuUsage(
        wall=after.at - before.at,
        groups={name: after.groups[name] - before.groups.get(name, 0.0) for name in after.groups},
        per_pid={
            name: {
                pid: seconds - before.per_pid.get(name, {}).get(pid, 0.0)
                for pid, seconds in pids.items()
            }
            for name, pids in after.per_pid.items()
        },
        machine_busy=after.machine["busy"] - before.machine["busy"],
        machine_iowait=after.machine["iowait"] - before.machine["iowait"],
        machine_steal=after.machine["steal"] - before.machine["steal"],
    )
