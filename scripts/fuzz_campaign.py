#!/usr/bin/env python3
"""Runs a fuzz campaign over every cargo-fuzz target and prints the docs/fuzzing.md table.

Each target runs until it has executed --runs inputs or for --minutes of wall time, whichever
comes first (libFuzzer's -runs and -max_total_time), one libFuzzer process per target, --jobs
targets at a time. The corpus is kept in each fuzz crate's corpus/<target> (not committed), so a
second campaign starts where the first stopped. A target that crashes, leaks or times out stops
the campaign's exit status from being 0; its artifact stays in fuzz/artifacts/<target>.

usage: scripts/fuzz_campaign.py [--runs N] [--minutes M] [--jobs J] [--only CRATE/TARGET,...]
needs: cargo-fuzz (`cargo install cargo-fuzz`), the pinned nightly toolchain.
"""

import argparse
import concurrent.futures
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def targets():
    for crate in sorted(ROOT.glob("*/fuzz")):
        for source in sorted((crate / "fuzz_targets").glob("*.rs")):
            yield crate, source.stem


def build(crate):
    subprocess.run(["cargo", "fuzz", "build", "--release"], cwd=crate, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run(crate, target, runs, seconds):
    corpus = crate / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = crate / "seeds" / target
    command = ["cargo", "fuzz", "run", "--release", target, str(corpus)]
    if seeds.is_dir():
        command.append(str(seeds))
    command += ["--", f"-runs={runs}", f"-max_total_time={seconds}", "-print_final_stats=1"]
    started = time.monotonic()
    result = subprocess.run(command, cwd=crate, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")
    elapsed = time.monotonic() - started
    text = result.stdout
    stat = lambda name: int(m.group(1)) if (m := re.search(rf"stat::{name}:\s+(\d+)", text)) else 0
    coverage = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)/", text)
    cov, features, corpus_size = coverage[-1] if coverage else ("?", "?", "?")
    crashed = result.returncode != 0
    return {
        "crate": crate.relative_to(ROOT).as_posix(),
        "target": target,
        "executions": stat("number_of_executed_units"),
        "per_second": stat("average_exec_per_sec"),
        "seconds": round(elapsed),
        "coverage": cov,
        "features": features,
        "corpus": corpus_size,
        "result": "CRASH (see fuzz/artifacts)" if crashed else "0 crashes",
        "log": text if crashed else "",
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000_000)
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default="")
    arguments = parser.parse_args()
    chosen = [(crate, target) for crate, target in targets()
              if not arguments.only
              or f"{crate.relative_to(ROOT).as_posix().split('/')[0]}/{target}"
              in arguments.only.split(",")]
    for crate in sorted({crate for crate, _ in chosen}):
        build(crate)
    seconds = int(arguments.minutes * 60)
    with concurrent.futures.ThreadPoolExecutor(arguments.jobs) as pool:
        rows = list(pool.map(lambda item: run(*item, arguments.runs, seconds), chosen))
    print("| crate | target | executions | exec/s | wall s | cov | ft | corpus | result |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| `{row['crate']}` | `{row['target']}` | {row['executions']:,} | "
              f"{row['per_second']:,} | {row['seconds']} | {row['coverage']} | {row['features']} | "
              f"{row['corpus']} | {row['result']} |")
    failed = [row for row in rows if row["log"]]
    for row in failed:
        print(f"\n--- {row['crate']}/{row['target']}\n{row['log'][-4000:]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
