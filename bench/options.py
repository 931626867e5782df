"""How long and how often to measure, where to work, and with which load generator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.load import Generator


@dataclass(frozen=True)
class Options:
    workdir: Path
    generator: Generator
    seconds: float = 5.0
    reps: int = 5
    clients: tuple[int, ...] = (1, 16, 64)

    def dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path
