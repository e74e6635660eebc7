"""Run a nusomi-hf convert as N Ray tasks: plan, the partitions, finalize.

    python nusomi_hf_ray.py --partitions 8 -- <export> --out s3://bucket/dataset/ --formats parquet,webdataset

Everything after ``--`` is what you would give ``nusomi-hf convert``. The driver runs
``convert --plan-only`` here, then one Ray task per partition, each running
``nusomi-hf convert ... --partition i/N`` on whichever worker Ray picks (a failed task is retried
by Ray, up to ``--max-retries`` times; a partition re-run writes the same bytes), then
``convert --finalize`` here. The output is byte-identical to one ``nusomi-hf convert``.

Every worker needs Node.js 22+ and nusomi-hf (``npm install -g nusomi-hf``, or a container image
with both), and the same view of the export and ``--out`` (s3://, az://, or a shared file
system). See the README ("Partitioned convert") for a runtime_env example.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

import ray


class PartitionFailed(RuntimeError):
    """A partition's convert exited non-zero (Ray retries the task)."""


def _run(
    cli: list[str], args: list[str], cwd: str | None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli, "convert", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


@ray.remote(num_cpus=1)
def run_partition(
    cli: list[str], args: list[str], index: int, count: int, cwd: str | None
) -> str:
    """One partition; raises on failure so that Ray retries it."""
    done = _run(cli, [*args, "--partition", f"{index}/{count}"], cwd)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise PartitionFailed(
            f"partition {index}/{count} exited {done.returncode}: {last}"
        )
    return done.stdout.strip()


def _step(cli: list[str], args: list[str], flag: str, cwd: str | None) -> None:
    done = _run(cli, [*args, flag], cwd)
    sys.stderr.write(done.stderr)
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        raise SystemExit(done.returncode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--partitions", type=int, required=True, help="number of partitions (Ray tasks)"
    )
    parser.add_argument(
        "--max-retries", type=int, default=3, help="Ray retries of a failed partition"
    )
    parser.add_argument(
        "--cli",
        default="nusomi-hf",
        help='the command that runs nusomi-hf (default "nusomi-hf")',
    )
    parser.add_argument(
        "--cwd",
        default=None,
        help="working directory of every convert (default: each process's own)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (default: ray.init()'s own choice)",
    )
    parser.add_argument(
        "--num-cpus", type=int, default=None, help="CPUs of a local Ray instance"
    )
    parser.add_argument(
        "convert_args",
        nargs=argparse.REMAINDER,
        help="-- then the arguments of nusomi-hf convert",
    )
    opts = parser.parse_args(argv)
    args = (
        opts.convert_args[1:] if opts.convert_args[:1] == ["--"] else opts.convert_args
    )
    if not args:
        parser.error("give the convert arguments after --")
    if not 1 <= opts.partitions <= 100_000:
        parser.error("--partitions must be between 1 and 100000")
    cli = shlex.split(opts.cli)

    _step(cli, args, "--plan-only", opts.cwd)
    ray.init(
        address=opts.address,
        num_cpus=opts.num_cpus,
        include_dashboard=False,
        log_to_driver=False,
    )
    try:
        task = run_partition.options(
            max_retries=opts.max_retries, retry_exceptions=[PartitionFailed]
        )
        refs = [
            task.remote(cli, args, i, opts.partitions, opts.cwd)
            for i in range(opts.partitions)
        ]
        try:
            for line in ray.get(refs):
                print(line)
        except ray.exceptions.RayTaskError as err:
            cause = err.cause if isinstance(err.cause, PartitionFailed) else err
            print(
                f"nusomi-hf-ray: error: {str(cause).splitlines()[-1]} (retried {opts.max_retries} times)",
                file=sys.stderr,
            )
            return 1
    finally:
        ray.shutdown()
    _step(cli, args, "--finalize", opts.cwd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
