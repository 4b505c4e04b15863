#!/usr/bin/env python3
"""Runs a fuzz campaign over every cargo-fuzz target and prints the docs/fuzzing.md table.

Each target runs until it has executed --runs inputs or for --minutes of CPU time, whichever
comes first (libFuzzer's -runs; the CPU bound is watched by this script), one libFuzzer process per target, --jobs
targets at a time. The corpus is kept in each fuzz crate's corpus/<target> (not committed), so a
second campaign starts where the first stopped. A target that crashes, leaks or times out stops
the campaign's exit status from being 0; its artifact stays in fuzz/artifacts/<target>.

usage: scripts/fuzz_campaign.py [--runs N] [--minutes M] [--jobs J] [--only CRATE/TARGET,...]
needs: cargo-fuzz (`cargo install cargo-fuzz`), the pinned nightly toolchain.
"""

import argparse
import os
import signal
import tempfile
import concurrent.futures
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The exit code asked of libFuzzer when this script interrupts it at the CPU bound.
INTERRUPTED = 72


def targets():
    for crate in sorted(ROOT.glob("*/fuzz")):
        for source in sorted((crate / "fuzz_targets").glob("*.rs")):
            yield crate, source.stem


def build(crate):
    subprocess.run(["cargo", "fuzz", "build", "--release"], cwd=crate, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def fuzzer_binary(crate, target):
    """The binary `cargo fuzz build --release` wrote for one target."""
    found = sorted(crate.glob(f"target/*/release/{target}"))
    if not found:
        raise SystemExit(f"{crate}: no built fuzzer for {target} (did `cargo fuzz build` run?)")
    return found[0]


def cpu_seconds(pid):
    """User + system CPU time of a running process, from /proc (Linux only)."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def run(crate, target, runs, cpu_limit):
    """Runs one target until `runs` executions or `cpu_limit` CPU-seconds, whichever first.

    The CPU bound is enforced here (libFuzzer only knows wall time): the fuzzer's own CPU time
    is read from /proc every second and the fuzzer is interrupted (SIGINT, after which libFuzzer
    prints its final statistics and exits with its interrupt code) once it passes the bound. So
    a target on a loaded machine still gets its full share of CPU, not of wall time.
    """
    corpus = crate / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = crate / "artifacts" / target
    artifacts.mkdir(parents=True, exist_ok=True)
    command = [str(fuzzer_binary(crate, target)), str(corpus)]
    seeds = crate / "seeds" / target
    if seeds.is_dir():
        command.append(str(seeds))
    command += [f"-runs={runs}", "-print_final_stats=1", f"-artifact_prefix={artifacts}/",
                f"-interrupted_exit_code={INTERRUPTED}"]
    started = time.monotonic()
    with tempfile.TemporaryFile("w+", errors="replace") as log:
        process = subprocess.Popen(command, cwd=crate, stdout=log, stderr=subprocess.STDOUT)
        used = 0.0
        while process.poll() is None:
            time.sleep(1)
            used = max(used, cpu_seconds(process.pid))
            if used >= cpu_limit:
                process.send_signal(signal.SIGINT)
                process.wait()
        log.seek(0)
        text = log.read()
    elapsed = time.monotonic() - started
    stat = lambda name: int(m.group(1)) if (m := re.search(rf"stat::{name}:\s+(\d+)", text)) else 0
    executions = stat("number_of_executed_units")
    if executions == 0 and (last := re.findall(r"^#(\d+)", text, re.MULTILINE)):
        executions = int(last[-1])
    coverage = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)/", text)
    cov, features, corpus_size = coverage[-1] if coverage else ("?", "?", "?")
    crashed = process.returncode not in (0, INTERRUPTED)
    print(f"{crate.relative_to(ROOT).as_posix()}/{target}: {executions:,} executions, "
          f"{round(used)} CPU s, {round(elapsed)} wall s, exit {process.returncode}, "
          f"cov {cov}, ft {features}, corpus {corpus_size}",
          file=sys.stderr, flush=True)
    return {
        "crate": crate.relative_to(ROOT).as_posix(),
        "target": target,
        "executions": executions,
        "per_second": round(executions / used) if used else 0,
        "cpu_seconds": round(used),
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
    cpu_limit = arguments.minutes * 60
    with concurrent.futures.ThreadPoolExecutor(arguments.jobs) as pool:
        rows = list(pool.map(lambda item: run(*item, arguments.runs, cpu_limit), chosen))
    print("| crate | target | executions | exec/CPU-s | CPU s | wall s | cov | ft | corpus | result |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| `{row['crate']}` | `{row['target']}` | {row['executions']:,} | "
              f"{row['per_second']:,} | {row['cpu_seconds']} | {row['seconds']} | {row['coverage']} | {row['features']} | "
              f"{row['corpus']} | {row['result']} |")
    failed = [row for row in rows if row["log"]]
    for row in failed:
        print(f"\n--- {row['crate']}/{row['target']}\n{row['log'][-4000:]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
