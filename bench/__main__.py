"""Run the benchmarks: ``python -m bench`` from the repository root (or ``nox -s bench``).

Writes bench/results.json (every run) and the generated part of bench/RESULTS.md, and prints
the headline table. ``--quick`` is a smoke test (short points, one repetition).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    features,
    isolation,
    listing,
    machine,
    profile,
    report,
    scaleout,
    startup,
    throughput,
    tokens,
)
from bench.load import Generator
from bench.options import Options

HERE = Path(__file__).resolve().parent
SUITES: dict[str, Callable[[Options], dict[str, Any]]] = {
    "throughput": throughput.run,
    "tokens": tokens.run,
    "startup": startup.run,
    "listing": listing.run,
    "scaleout": scaleout.run,
    "profile": profile.run,
    "features": features.run,
    "isolation": isolation.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(SUITES), help="comma-separated suites")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per load point")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of every point")
    parser.add_argument("--quick", action="store_true", help="2 s points, one repetition")
    parser.add_argument("--python-load", action="store_true", help="skip wrk, use httpx")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SUITES))
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; choose from {sorted(SUITES)}")

    generator = Generator(prefer_wrk=not args.python_load)
    if generator.wrk is None and not args.python_load:
        print("wrk is not installed and could not be (not root, or no apt-get): falling back to")
        print("the Python load generator, which costs the machine more per call than wrk.")
    workdir = Path(tempfile.mkdtemp(prefix="plughost-bench-"))
    options = Options(
        workdir=workdir,
        generator=generator,
        seconds=2.0 if args.quick else args.seconds,
        reps=1 if args.quick else args.reps,
    )
    results: dict[str, Any] = {
        "meta": {
            "machine": machine.describe(),
            "generator": generator.name,
            "seconds": options.seconds,
            "reps": options.reps,
        }
    }
    started = time.monotonic()
    try:
        for name in chosen:
            print(f"== {name}", flush=True)
            results[name] = SUITES[name](options)
    except BaseException:
        print(f"\nfailed; servers' logs and data are kept in {workdir}", flush=True)
        raise
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    results["meta"]["minutes"] = round((time.monotonic() - started) / 60, 1)

    args.results.parent.mkdir(parents=True, exist_ok=True)
    (args.results.parent / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    existing = args.results.read_text() if args.results.exists() else None
    args.results.write_text(report.merge(existing, report.render(results)))
    print(f"\nwrote {args.results} in {results['meta']['minutes']} min\n")
    for target, measured, ok in report.targets(results):
        print(f"  {'met    ' if ok else 'NOT MET'}  {target}: {measured}")
    if "throughput" in results:
        print("\n" + "\n".join(report.headline(results)))


if __name__ == "__main__":
    main()
