#!/usr/bin/env python3
"""Times commands by alternating them, round after round, and prints each
one's median, p10 and p90 in ms. On a machine whose speed moves by tens of
percent between minutes, only commands timed side by side like this can be
compared (a build against the one before it, paige against its floor).

    bench/alternate.py [--rounds N] NAME 'COMMAND' [NAME 'COMMAND' ...]

    bench/alternate.py --rounds 200 \\
      floor "env $(cat vars) /bin/true" \\
      base  "/tmp/paige-base --data-dir /tmp/a run b2 -- /bin/true" \\
      after "target/release/paige --data-dir /tmp/b run b2 -- /bin/true"

Each COMMAND is split as a shell would split it (no shell runs it) and
started with posix_spawn, its stdout to /dev/null: Python's
subprocess.run took 4.3 ms to start a 100-argument `env` that posix_spawn
starts in 1.7. A word `N<PATH` (N a number of 3 or more) is a redirection,
as in a shell: PATH opened read-only as the command's descriptor N (for
bwrap's `--file N DEST`, as paige passes its /etc files). A command that
fails stops the run, with its stderr.
"""

import argparse
import os
import re
import shlex
import statistics
import sys
import time

WARMUP_ROUNDS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200, help="timed rounds (default 200)")
    parser.add_argument("pairs", nargs="+", metavar="NAME COMMAND")
    args = parser.parse_args()
    if len(args.pairs) % 2:
        parser.error("give a NAME and a COMMAND for each command")
    devnull = os.open(os.devnull, os.O_WRONLY)
    commands = []
    for i in range(0, len(args.pairs), 2):
        argv, actions = [], [(os.POSIX_SPAWN_DUP2, devnull, 1)]
        for word in shlex.split(args.pairs[i + 1]):
            redirect = re.fullmatch(r"([3-9]|[1-9][0-9]+)<(.+)", word)
            if redirect:
                actions.append((os.POSIX_SPAWN_OPEN, int(redirect[1]), redirect[2], os.O_RDONLY, 0))
            else:
                argv.append(word)
        commands.append((args.pairs[i], (argv, actions)))
    env = dict(os.environ)

    def run(command: tuple[list[str], list]) -> float:
        argv, actions = command
        started = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        took = time.perf_counter() - started
        if status != 0:
            sys.exit(f"{shlex.join(argv)[:200]} failed ({os.waitstatus_to_exitcode(status)})")
        return took

    for _ in range(WARMUP_ROUNDS):
        for _, command in commands:
            run(command)
    times: dict[str, list[float]] = {name: [] for name, _ in commands}
    for _ in range(args.rounds):
        for name, command in commands:
            times[name].append(run(command))
    width = max(len(name) for name, _ in commands)
    for name, _ in commands:
        t = sorted(times[name])
        print(
            f"{name:{width}}  median {statistics.median(t) * 1e3:7.2f} ms"
            f"  p10 {t[len(t) // 10] * 1e3:7.2f}  p90 {t[len(t) * 9 // 10] * 1e3:7.2f}"
        )


if __name__ == "__main__":
    main()
