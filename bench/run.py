"""Benchmark the SCIM API the way Entra uses it, side by side with bare Flask and scim2-server.

    python -m bench.run --quick
    python -m bench.run --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Three rounds, each on fresh servers and a fresh database:

1. compare: the same user workload (lookup then POST per user, then lookups)
   against the app, a minimal Flask app under the same gunicorn settings, the
   minimal app storing each user in one durable row of the same database
   (bench.durable_app, for reference: no target), and scim2-server (one
   process, in memory). Ratios of server CPU per request and of throughput are
   taken here, side by side, because absolute figures on a shared two-core
   machine move from run to run.
2. cycle: Entra's initial cycle (users, groups, member PATCHes one at a time and
   in batches), an incremental cycle (10% renamed, 5% disabled), then a full read
   back that counts lost and duplicated users, groups and memberships.
3. micro: rows written straight into the database, then lookups at 1k users and
   at the full size, and member PATCHes into an empty and a 10k-member group.
"""

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any

from .client import Client
from .client import Sample
from .client import median
from .client import percentile
from .seed import seed_groups
from .seed import seed_users
from .servers import Gunicorn
from .servers import Server
from .servers import durability
from .servers import fresh_database
from .servers import scratch_folder
from .servers import serve_app
from .servers import serve_durable
from .servers import serve_minimal
from .servers import serve_scim2_server
from .workload import Task
from .workload import create_groups
from .workload import create_users
from .workload import look_up_users
from .workload import member_plan
from .workload import patch_members
from .workload import read_pages
from .workload import update_users
from .workload import user_name

MB = 1024 * 1024
WARMUP = 100  # requests each server gets before anything is measured
WARMUP_BASE = 900_000  # user indexes for the warm-up, apart from the measured ones


@dataclass(frozen=True)
class Size:
    """How much work a run does."""

    users: int
    groups: int
    memberships: int
    compare_users: int
    scale_users: int
    big_group: int = 10_000
    probe: int = 1000  # lookups per latency probe


SIZES = {
    "quick": Size(
        users=1000, groups=20, memberships=2000, compare_users=600, scale_users=12_000, probe=500
    ),
    "full": Size(
        users=100_000, groups=1000, memberships=200_000, compare_users=5000, scale_users=100_000
    ),
}


@dataclass
class Phase:
    """What one phase measured on one server."""

    server: str
    name: str
    requests: int
    seconds: float
    errors: int
    p50: float  # milliseconds
    p95: float
    p99: float
    cpu_ms: float  # server CPU per request
    rss_mb: float  # summed over the server's processes, after the phase
    peak_mb: float  # summed VmHWM
    kinds: dict[str, float] = field(default_factory=dict)  # p50 per request kind, ms

    @property
    def rps(self) -> float:
        """Return requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


class Report:
    """Collect phases and targets, print them as they come, and keep them for --json."""

    def __init__(self) -> None:
        self.phases: list[Phase] = []
        self.targets: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {}
        self.header_printed = False

    def fact(self, name: str, value: Any) -> None:
        """Record and print a fact about the run."""
        self.facts[name] = value
        print(f"{name}: {value}", flush=True)

    def add(self, phase: Phase) -> Phase:
        """Record and print a phase."""
        if not self.header_printed:
            print(
                f"{'server':<15}{'phase':<26}{'requests':>9}{'req/s':>8}{'p50 ms':>8}"
                f"{'p95 ms':>8}{'p99 ms':>8}{'errors':>7}{'cpu ms/req':>11}{'rss MB':>8}"
                f"{'peak MB':>8}"
            )
            self.header_printed = True
        print(
            f"{phase.server:<15}{phase.name:<26}{phase.requests:>9}{phase.rps:>8.0f}"
            f"{phase.p50:>8.2f}{phase.p95:>8.2f}{phase.p99:>8.2f}{phase.errors:>7}"
            f"{phase.cpu_ms:>11.2f}{phase.rss_mb:>8.1f}{phase.peak_mb:>8.1f}",
            flush=True,
        )
        self.phases.append(phase)
        return phase

    def target(
        self,
        name: str,
        value: float,
        limit: float,
        higher_is_better: bool,
        unit: str = "x",
        detail: str = "",
    ) -> None:
        """Record and print one target, its measured value and whether it holds."""
        holds = value >= limit if higher_is_better else value <= limit
        sign = ">=" if higher_is_better else "<="
        self.targets.append(
            {
                "target": name,
                "value": round(value, 3),
                "limit": f"{sign} {limit}{unit}",
                "holds": holds,
                "detail": detail,
            }
        )

    def print_targets(self) -> None:
        """Print the table of targets."""
        print("\nTargets")
        for item in self.targets:
            mark = "holds" if item["holds"] else "MISSED"
            print(
                f"  {item['target']:<58} {item['value']:>9.3f}  {item['limit']:<10} {mark}"
                + (f"  ({item['detail']})" if item["detail"] else "")
            )


def measure(
    report: Report, server: Server, client: Client, name: str, tasks: Iterable[Task]
) -> Phase:
    """Run tasks against server and record the phase."""
    client.failures.clear()
    cpu_before = server.cpu_seconds()
    samples, wall = client.run(tasks)
    cpu_after = server.cpu_seconds()
    rss, peak = server.memory()
    phase = summarise(server.name, name, samples, wall, cpu_after - cpu_before, rss, peak)
    report.add(phase)
    for failure in client.failures[:3]:
        print(f"    unexpected answer: {failure}", flush=True)
    return phase


def summarise(
    server: str, name: str, samples: list[Sample], wall: float, cpu: float, rss: int, peak: int
) -> Phase:
    """Return the Phase of a list of samples."""
    times = [s.seconds * 1000 for s in samples]
    by_kind: dict[str, list[float]] = {}
    for sample in samples:
        by_kind.setdefault(sample.kind, []).append(sample.seconds * 1000)
    return Phase(
        server=server,
        name=name,
        requests=len(samples),
        seconds=wall,
        errors=sum(1 for s in samples if not s.ok),
        p50=percentile(times, 0.50),
        p95=percentile(times, 0.95),
        p99=percentile(times, 0.99),
        cpu_ms=cpu * 1000 / len(samples) if samples else 0.0,
        rss_mb=rss / MB,
        peak_mb=peak / MB,
        kinds={kind: round(median(values), 3) for kind, values in by_kind.items()},
    )


def warm_up(server: Server, client: Client) -> None:
    """Send a few requests of each kind so imports and caches are not measured."""
    ids: dict[int, str] = {}
    tasks = list(create_users(range(WARMUP_BASE, WARMUP_BASE + WARMUP // 2), ids))
    client.run(tasks)
    client.run(look_up_users(list(range(WARMUP_BASE, WARMUP_BASE + WARMUP // 2))))


# ---------------------------------------------------------------------------
# Round 1: the same user workload on three servers
# ---------------------------------------------------------------------------


def compare(report: Report, args: argparse.Namespace, size: Size, folder: Path) -> None:
    """Run the user workload on the minimal app, the app and scim2-server; record the ratios."""
    print(
        f"\n== compare: {size.compare_users} users (lookup + POST), then as many lookups,"
        f" {args.clients} client threads",
        flush=True,
    )
    results: dict[str, dict[str, Phase]] = {}
    order = list(range(size.compare_users))
    lookups = random.Random(1).sample(order, len(order))

    def workload(server: Server) -> None:
        """Warm server up, then run and record the two measured phases on it."""
        client = Client(server.scim_url, server.token, args.clients)
        warm_up(server, client)
        ids: dict[int, str] = {}
        users = measure(report, server, client, "users (lookup+POST)", create_users(order, ids))
        found = measure(report, server, client, "lookups", look_up_users(lookups))
        results[server.name] = {"users": users, "lookups": found}

    with serve_minimal(args.gunicorn, folder) as server:
        workload(server)
    with fresh_database(args.database_url, folder, "durable") as db_url:
        with serve_durable(db_url, args.gunicorn, folder) as server:
            workload(server)
    with fresh_database(args.database_url, folder, "compare") as db_url:
        with serve_app(db_url, args.gunicorn, folder) as server:
            workload(server)
    if not args.no_scim2_server:
        with serve_scim2_server(folder) as server:
            workload(server)

    ours, bare = results["unleash-wizard"], results["minimal Flask"]
    durable = results["durable Flask"]
    for phase in ("users", "lookups"):
        report.fact(
            f"server CPU per request, {phase} phase: durable Flask / minimal Flask",
            f"{durable[phase].cpu_ms / bare[phase].cpu_ms:.2f}x"
            f" ({durable[phase].cpu_ms:.2f} vs {bare[phase].cpu_ms:.2f} ms);"
            f" unleash-wizard / durable Flask {ours[phase].cpu_ms / durable[phase].cpu_ms:.2f}x",
        )
    report.target(
        "server CPU per request, user create phase / minimal Flask",
        ours["users"].cpu_ms / bare["users"].cpu_ms,
        2,
        False,
        detail=f"{ours['users'].cpu_ms:.2f} vs {bare['users'].cpu_ms:.2f} ms",
    )
    report.target(
        "server CPU per request, lookup phase / minimal Flask",
        ours["lookups"].cpu_ms / bare["lookups"].cpu_ms,
        2,
        False,
        detail=f"{ours['lookups'].cpu_ms:.2f} vs {bare['lookups'].cpu_ms:.2f} ms",
    )
    if "scim2-server" in results:
        other = results["scim2-server"]
        report.target(
            "user-phase throughput / scim2-server",
            ours["users"].rps / other["users"].rps,
            2,
            True,
            detail=f"{ours['users'].rps:.0f} vs {other['users'].rps:.0f} req/s",
        )


# ---------------------------------------------------------------------------
# Round 2: Entra's cycles, then a read back that counts what got lost
# ---------------------------------------------------------------------------


def cycle(report: Report, args: argparse.Namespace, size: Size, folder: Path) -> None:
    """Replay an initial and an incremental cycle and check nothing was lost or duplicated."""
    print(
        f"\n== cycle: {size.users} users, {size.groups} groups, {size.memberships} memberships,"
        f" {args.clients} client threads",
        flush=True,
    )
    with fresh_database(args.database_url, folder, "cycle") as db_url:
        with serve_app(db_url, args.gunicorn, folder) as server:
            client = Client(server.scim_url, server.token, args.clients)
            started = time.perf_counter()
            user_ids: dict[int, str] = {}
            first = min(1000, size.users)
            measure(
                report, server, client, f"users 1-{first}", create_users(range(first), user_ids)
            )
            if size.users > first:
                measure(
                    report,
                    server,
                    client,
                    f"users {first + 1}-{size.users}",
                    create_users(range(first, size.users), user_ids),
                )
            group_ids: dict[int, str] = {}
            measure(
                report,
                server,
                client,
                "groups (lookup+POST)",
                create_groups(range(size.groups), group_ids),
            )
            plan, expected = member_plan(group_ids, user_ids, size.users, size.memberships)
            measure(report, server, client, "member PATCHes", patch_members(plan))
            renames = [i for i in range(size.users) if i % 10 == 3]
            disables = [i for i in range(size.users) if i % 20 == 7]
            measure(
                report,
                server,
                client,
                "incremental (lookup+PATCH)",
                update_users(renames, disables),
            )
            user_pages: list[list[dict]] = []
            group_pages: list[list[dict]] = []
            measure(
                report,
                server,
                client,
                "read back users",
                read_pages("Users", size.users, 1000, user_pages),
            )
            measure(
                report,
                server,
                client,
                "read back groups",
                read_pages("Groups", size.groups, 100, group_pages),
            )
            report.fact("cycle wall time (s)", round(time.perf_counter() - started, 1))
            check(report, size, user_ids, expected, renames, disables, user_pages, group_pages)


def check(
    report: Report,
    size: Size,
    user_ids: dict[int, str],
    expected: dict[str, set[str]],
    renames: list[int],
    disables: list[int],
    user_pages: list[list[dict]],
    group_pages: list[list[dict]],
) -> None:
    """Count lost and duplicated users, groups and memberships, and lost updates."""
    users = [r for page in user_pages for r in page]
    names = Counter(r.get("userName") for r in users)
    ids = Counter(r.get("id") for r in users)
    wanted = {user_name(i) for i in range(size.users)}
    lost_users = len(wanted - set(names)) + (size.users - len(user_ids))
    duplicate_users = (
        sum(n - 1 for n in names.values() if n > 1)
        + sum(n - 1 for n in ids.values() if n > 1)
        + len(set(names) - wanted)
    )
    by_name = {r.get("userName"): r for r in users}
    lost_updates = sum(
        1 for i in renames if by_name.get(user_name(i), {}).get("displayName") != f"Renamed {i:06d}"
    ) + sum(1 for i in disables if by_name.get(user_name(i), {}).get("active") is not False)
    groups = [r for page in group_pages for r in page]
    group_ids = Counter(r.get("id") for r in groups)
    lost_groups = len(set(expected) - set(group_ids)) + (size.groups - len(expected))
    duplicate_groups = sum(n - 1 for n in group_ids.values() if n > 1) + len(
        set(group_ids) - set(expected)
    )
    lost_members = extra_members = 0
    for resource in groups:
        members = [m["value"] for m in resource.get("members") or []]
        want = expected.get(resource.get("id"), set())
        lost_members += len(want - set(members))
        extra_members += len(members) - len(set(members)) + len(set(members) - want)
    report.fact(
        "read back",
        f"{len(users)} users, {len(groups)} groups, "
        f"{sum(len(r.get('members') or []) for r in groups)} memberships",
    )
    problems = {
        "lost users": lost_users,
        "duplicated users": duplicate_users,
        "lost updates": lost_updates,
        "lost groups": lost_groups,
        "duplicated groups": duplicate_groups,
        "lost memberships": lost_members,
        "duplicated or unexpected memberships": extra_members,
    }
    report.fact("integrity", ", ".join(f"{k} {v}" for k, v in problems.items()))
    report.target(
        "lost or duplicated objects after the cycle", sum(problems.values()), 0, False, unit=""
    )


# ---------------------------------------------------------------------------
# Round 3: lookups and PATCHes against large tables, seeded directly
# ---------------------------------------------------------------------------


def micro(report: Report, args: argparse.Namespace, size: Size, folder: Path) -> None:
    """Measure lookup latency at 1k and at scale_users, and member PATCH latency by group size."""
    small = 1000
    big = size.big_group
    total = max(size.scale_users, big + 300)
    print(
        f"\n== micro: lookups at {small} and {total} users; PATCH into an empty and a "
        f"{big}-member group (one request at a time)",
        flush=True,
    )
    rng = random.Random(2)
    with fresh_database(args.database_url, folder, "micro") as db_url:
        with serve_app(db_url, args.gunicorn, folder) as server:
            ids = seed_users(db_url, range(small))
            client = Client(server.scim_url, server.token, 1)
            client.run(look_up_users(rng.sample(range(small), 100)))  # warm-up

            def probe(users: int) -> Phase:
                # The same work at both sizes, so RSS differs only by what the data costs:
                # one page of 1,000 users (the last one) and size.probe random lookups.
                client.run(read_pages("Users", 1000, 1000, [], start=users - 999))
                names = [rng.randrange(users) for _ in range(size.probe)]
                return measure(
                    report, server, client, f"lookups at {users} users", look_up_users(names)
                )

            at_small = probe(small)
            started = time.perf_counter()
            ids += seed_users(db_url, range(small, total))
            report.fact(
                f"seeded {total - small} more users directly (s)",
                round(time.perf_counter() - started, 1),
            )
            at_scale = probe(total)
            report.target(
                f"lookup p50 at {total} users / at {small} users",
                at_scale.p50 / at_small.p50,
                1.2,
                False,
                detail=f"{at_scale.p50:.2f} vs {at_small.p50:.2f} ms",
            )
            report.target(
                f"server RSS at {total} users minus at {small} users (MB)",
                at_scale.rss_mb - at_small.rss_mb,
                50,
                False,
                unit=" MB",
                detail=f"{at_scale.rss_mb:.1f} vs {at_small.rss_mb:.1f} MB",
            )

            rounds, thousands = 200, 20
            members = {0: ids[:big]}
            group_ids = seed_groups(db_url, range(1 + rounds + 2 * thousands), members)
            large, empty = group_ids[0], group_ids[1:]
            newcomers = ids[big : big + rounds]
            plan: list[tuple[str, list[str]]] = []
            kinds: list[str] = []
            for k in range(rounds):
                plan += [(empty[k], [newcomers[k]]), (large, [newcomers[k]])]
                kinds += ["one-empty", "one-big"]
            for k in range(thousands):
                batch = ids[k * 1000 % (total - 1000) :][:1000]
                plan += [(empty[rounds + k], batch), (empty[rounds + thousands + k], [batch[0]])]
                kinds += ["thousand", "one-empty"]
            phase = measure(
                report, server, client, "member PATCHes (micro)", patch_members(plan, kinds)
            )
            one_empty, one_big, thousand = (
                phase.kinds["one-empty"],
                phase.kinds["one-big"],
                phase.kinds["thousand"],
            )
            report.fact(
                "PATCH p50 ms",
                f"one member into an empty group {one_empty:.2f}, "
                f"into the {big}-member group {one_big:.2f}, 1,000 members {thousand:.2f}",
            )
            report.target(
                f"one-member PATCH p50, {big}-member group / empty group",
                one_big / one_empty,
                1.5,
                False,
                detail=f"{one_big:.2f} vs {one_empty:.2f} ms",
            )
            report.target(
                "1,000-member PATCH p50 / one-member PATCH p50",
                thousand / one_empty,
                20,
                False,
                detail=f"{thousand:.2f} vs {one_empty:.2f} ms",
            )


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a small run, about a minute")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create databases on "
        "(default: SQLite files in a temporary folder)",
    )
    parser.add_argument("--users", type=int)
    parser.add_argument("--groups", type=int)
    parser.add_argument("--memberships", type=int)
    parser.add_argument("--compare-users", type=int)
    parser.add_argument("--scale-users", type=int)
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument(
        "--rounds", default="compare,cycle,micro", help="comma-separated rounds to run"
    )
    parser.add_argument("--no-scim2-server", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.gunicorn = Gunicorn(workers=args.workers, threads=args.threads)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its report; return 1 when a target is missed."""
    args = parse_args(argv)
    base = SIZES["quick" if args.quick else "full"]
    size = replace(
        base,
        users=args.users or base.users,
        groups=args.groups if args.groups is not None else base.groups,
        memberships=args.memberships if args.memberships is not None else base.memberships,
        compare_users=args.compare_users or base.compare_users,
        scale_users=args.scale_users or base.scale_users,
    )
    report = Report()
    report.fact("size", ", ".join(f"{k}={v}" for k, v in asdict(size).items()))
    report.fact("gunicorn", args.gunicorn.describe())
    report.fact("client", f"{args.clients} threads, one keep-alive HTTP/1.1 connection each")
    database = args.database_url or "sqlite"
    with scratch_folder() as scratch:
        folder = Path(scratch)
        with fresh_database(args.database_url, folder, "probe") as db_url:
            report.fact("database", durability(db_url))
        rounds = [name.strip() for name in args.rounds.split(",") if name.strip()]
        started = time.perf_counter()
        for name in rounds:
            {"compare": compare, "cycle": cycle, "micro": micro}[name](report, args, size, folder)
        report.fact("\ntotal wall time (s)", round(time.perf_counter() - started, 1))
    report.print_targets()
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "database": database,
                    "facts": report.facts,
                    "phases": [{**asdict(p), "rps": p.rps} for p in report.phases],
                    "targets": report.targets,
                },
                indent=2,
            )
        )
    return 0 if all(t["holds"] for t in report.targets) else 1


if __name__ == "__main__":
    sys.exit(main())
