"""Benchmark 4 of issue 9: reports at national scale.

    python -m bench.reports --pg URL --out results.json [--establishments 100000 --inspections 1000000]

Makes a reporting database of its own on the PostgreSQL server at URL, migrates it (the service's
own migrations, through chassis.service), and loads, with COPY, N establishments spread over all
10,767 communes of the GSO list and M inspections over two years (2023 and 2024) into the
projections ``p_establishments`` and ``p_inspections``; then builds the monthly rollup with the
service's own recomputation (`handlers.finish_rebuild`, what a rebuild runs) and VACUUM ANALYZEs.

Then, for the country, a province (Sơn La, 14), a district (116, Thành phố Sơn La) and a commune
(03646, Chiềng Lề), over the year 2024 by month:

* **ours**: `views.trend` in-process, through `Container.read` as
  GET /reporting/v1/indicators/trend calls it (a read-only autocommit session per call): inspections by kind, establishments operating and inspected
  from the rollup, hotspots and trials from their (here empty) tables;
* **ours, the same numbers**: `views.monthly` alone, through `Container.read`: the rollup read that
  the trend's inspection and establishment figures come from, i.e. exactly what the raw GROUP BY
  below computes (the trend adds hotspots and trials, read from their own tables either way);
* **baseline**: the plain GROUP BY over the raw ``p_inspections`` / ``p_establishments`` rows that
  the rollup replaces, giving the same numbers (three statements).

Each is called ``--repeat`` times after ``--warmup`` calls; p50/p95/p99 in ms. The numbers of the
rollup and the raw rows must be equal (checked before timing; the run fails loudly if not).
Goal: the trend's p95 < 100 ms, and baseline p95 / p95 of the same numbers from the rollup >= 20,
at every level (the ratio to the whole trend is recorded too, ``ratio_whole_trend``).
"""
from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.system import create_database, drop_database
from chassis.config import Config
from chassis.service import bootstrap, discover
from contracts.refdata import units
from services.reporting import handlers, views

YEAR = 2024  # the year queried; the data covers YEAR - 1 and YEAR
LEVELS = {"country": "VN", "province": "14", "district": "116", "commune": "03646"}
GOAL_P95_MS = 100.0
GOAL_RATIO = 20.0
KINDS = ("specialised", "inter_agency")
AGENCIES = ("culture", "police", "labour", "health", "inter_agency")
BUSINESS_TYPES = ("karaoke", "massage", "accommodation", "bar", "sauna")


# --- database -----------------------------------------------------------------------------------
def new_database(server_url: str, label: str) -> str:
    return create_database(server_url, f"bench_{label}_{uuid.uuid4().hex[:8]}")


def libpq(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://...) as psycopg's own connection string."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def setup(pg: str, work: Path):
    """The reporting service on a fresh database of its own, migrated."""
    config = Config(service="reporting", database_url=new_database(pg, "reports"), log_level="WARNING",
                    embedded_log_url=f"sqlite:///{work}/events.db")
    container = bootstrap(discover(("reporting",))["reporting"], config)
    container.migrate()
    return container


# --- synthetic national data, loaded with COPY ---------------------------------------------------
def day_between(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def establishment_rows(rng: random.Random, n: int):
    """(id, commune, district, type, status, opened_on, closed_on): every commune gets some, most
    opened before the two years, some during; a tenth closed at some point."""
    admin = units()
    communes = sorted(admin.communes)
    for k in range(n):
        commune = communes[k % len(communes)] if k < len(communes) else rng.choice(communes)
        opened = day_between(rng, date(2010, 1, 1), date(YEAR, 12, 31)) if rng.random() < 0.3 else \
            day_between(rng, date(2010, 1, 1), date(YEAR - 2, 12, 31))
        closed = day_between(rng, opened, date(YEAR + 1, 6, 30)) if rng.random() < 0.1 else None
        yield (str(uuid.UUID(int=rng.getrandbits(128))), commune, admin.district_of(commune),
               rng.choice(BUSINESS_TYPES), "closed" if closed else "active", opened, closed)


def inspection_rows(rng: random.Random, n: int, establishments: list[tuple]):
    """(id, establishment, kind, agency, commune, district, state, conducted_on, passed, signs,
    fines): 90 % completed on a day of the two years, the rest scheduled, started or cancelled."""
    first, last = date(YEAR - 1, 1, 1), date(YEAR, 12, 31)
    for _ in range(n):
        eid, commune, district = rng.choice(establishments)
        completed = rng.random() < 0.9
        state = "completed" if completed else rng.choice(("scheduled", "started", "cancelled"))
        conducted = day_between(rng, first, last) if completed else None
        yield (str(uuid.UUID(int=rng.getrandbits(128))), eid, rng.choice(KINDS), rng.choice(AGENCIES), commune,
               district, state, conducted, (rng.random() < 0.8) if completed else None,
               (rng.random() < 0.02) if completed else None, rng.choice((0, 0, 0, 2_000_000)) if completed else None)


def copy_rows(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows, chunk: int = 50_000) -> int:
    """COPY ``rows`` into ``table`` as text, in chunks (NULL as \\N, booleans as t/f)."""
    def field(value) -> str:
        if value is None:
            return "\\N"
        if isinstance(value, bool):
            return "t" if value else "f"
        return str(value)

    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(map(field, row)))
            buffer.write("\n")
            count += 1
            if count % chunk == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    return count


def load(db_url: str, n_establishments: int, n_inspections: int, seed: int) -> dict:
    rng = random.Random(seed)
    started = time.perf_counter()
    with psycopg.connect(libpq(db_url)) as conn:
        establishments = list(establishment_rows(rng, n_establishments))
        copy_rows(conn, "p_establishments",
                  ("id", "commune_code", "district_code", "business_type", "status", "opened_on", "closed_on"),
                  establishments)
        keys = [(row[0], row[1], row[2]) for row in establishments]
        copy_rows(conn, "p_inspections",
                  ("id", "establishment_id", "kind", "agency", "commune_code", "district_code", "state",
                   "conducted_on", "passed", "signs_of_prostitution", "fines_total_vnd"),
                  inspection_rows(rng, n_inspections, keys))
        conn.commit()
    return {"load_s": round(time.perf_counter() - started, 2)}


def build_rollup(container, db_url: str) -> dict:
    """The rollup by the service's own recomputation (what a rebuild runs), then VACUUM ANALYZE."""
    started = time.perf_counter()
    rows = handlers.finish_rebuild(container.uow())
    built = time.perf_counter() - started
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {"rollup_s": round(built, 2), "rollup_rows": rows}


# --- the two ways of answering ------------------------------------------------------------------
def ours(container, code: str) -> dict:
    """What GET /reporting/v1/indicators/trend runs, with a session of its own."""
    return container.read(views.trend, views.org_unit(code), YEAR)


def ours_counts(container, code: str) -> list[dict]:
    return container.read(views.monthly, views.org_unit(code), YEAR)


def unit_filter(code: str, alias: str) -> tuple[str, dict]:
    unit = views.org_unit(code)
    if unit.level == "country":
        return "", {}
    if unit.level == "province":
        return f" AND {alias}.district_code = ANY(:districts)", {
            "districts": [d.code for d in units().districts_in(code)]}
    column = "district_code" if unit.level == "district" else "commune_code"
    return f" AND {alias}.{column} = :code", {"code": code}


INSPECTIONS_SQL = """
SELECT to_char(i.conducted_on, 'YYYYMM') AS month, i.kind, count(*)
FROM p_inspections i
WHERE i.state = 'completed' AND i.conducted_on BETWEEN :first AND :last{filter}
GROUP BY 1, 2"""
OPERATING_SQL = """
SELECT to_char(m.month_end, 'YYYYMM') AS month, count(e.id)
FROM (SELECT (d + interval '1 month - 1 day')::date AS month_end
      FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 month') AS d) m
LEFT JOIN p_establishments e
  ON e.opened_on <= m.month_end AND (e.closed_on IS NULL OR e.closed_on > m.month_end){filter}
GROUP BY 1"""
INSPECTED_SQL = """
SELECT to_char(i.conducted_on, 'YYYYMM') AS month, count(DISTINCT e.id)
FROM p_inspections i JOIN p_establishments e ON e.id = i.establishment_id
WHERE i.state = 'completed' AND i.conducted_on BETWEEN :first AND :last{filter}
  AND e.opened_on <= (date_trunc('month', i.conducted_on) + interval '1 month - 1 day')::date
  AND (e.closed_on IS NULL OR e.closed_on > (date_trunc('month', i.conducted_on) + interval '1 month - 1 day')::date)
GROUP BY 1"""


def baseline(engine, code: str) -> list[dict]:
    """The same monthly numbers by the plain GROUP BY over the raw projection rows."""
    params = {"first": date(YEAR, 1, 1), "last": date(YEAR, 12, 31)}
    months = {f"{YEAR}{m:02d}": {"period": f"{YEAR}{m:02d}", "operating": 0, "inspected": 0} for m in range(1, 13)}
    with engine.connect() as conn:
        where, extra = unit_filter(code, "i")
        for month, kind, n in conn.execute(text(INSPECTIONS_SQL.format(filter=where)), {**params, **extra}):
            months[month][kind] = n
        where, extra = unit_filter(code, "e")
        for month, n in conn.execute(text(OPERATING_SQL.format(filter=where)), {**params, **extra}):
            months[month]["operating"] = n
        for month, n in conn.execute(text(INSPECTED_SQL.format(filter=where)), {**params, **extra}):
            months[month]["inspected"] = n
    return list(months.values())


def check_equal(container, engine, code: str) -> None:
    """The rollup's numbers (and the trend's) must be the raw rows' numbers: fail loudly if not."""
    theirs = baseline(engine, code)
    mine = [{k: v for k, v in row.items() if v or k in ("period", "operating", "inspected")}
            for row in ours_counts(container, code)]
    expected = [{k: v for k, v in row.items() if v or k in ("period", "operating", "inspected")} for row in theirs]
    if mine != expected:
        raise SystemExit(f"bench.reports: the rollup differs from the raw GROUP BY for {code}:\n"
                         f"  rollup: {mine}\n  raw:    {expected}")
    for month, row in zip(ours(container, code)["months"], theirs):
        if (month["inspections_specialised"], month["inspections_inter_agency"]) != (
                row.get("specialised", 0), row.get("inter_agency", 0)):
            raise SystemExit(f"bench.reports: the trend differs from the raw GROUP BY for {code}, {month['period']}")


# --- timing -------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def timed(call, warmup: int, repeat: int) -> dict:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(pct(samples, 50), 2), "p95_ms": round(pct(samples, 95), 2),
            "p99_ms": round(pct(samples, 99), 2), "mean_ms": round(statistics.fmean(samples), 2), "n": repeat}


def run(pg: str, n_establishments: int, n_inspections: int, repeat: int, warmup: int, seed: int,
        keep: bool = False) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lanhmanh-bench-reports-") as work:
        container = setup(pg, Path(work))
        db_url = container.config.database_url
        try:
            result = {"establishments": n_establishments, "inspections": n_inspections,
                      "communes": len(units().communes), "year": YEAR, "repeat": repeat,
                      "goal": {"p95_ms": GOAL_P95_MS, "ratio": GOAL_RATIO}}
            result.update(load(db_url, n_establishments, n_inspections, seed))
            result.update(build_rollup(container, db_url))
            engine = create_engine(db_url)
            levels = {}
            for level, code in LEVELS.items():
                check_equal(container, engine, code)
                mine = timed(lambda c=code: ours(container, c), warmup, repeat)
                same = timed(lambda c=code: ours_counts(container, c), warmup, repeat)
                base = timed(lambda c=code: baseline(engine, c), warmup, repeat)
                ratio = base["p95_ms"] / same["p95_ms"] if same["p95_ms"] else float("inf")
                levels[level] = {"unit": code, "ours": mine, "ours_same_numbers": same, "baseline": base,
                                 "ratio": round(ratio, 1), "ratio_whole_trend": round(base["p95_ms"] / mine["p95_ms"], 1),
                                 "met": mine["p95_ms"] < GOAL_P95_MS and ratio >= GOAL_RATIO}
                print(f"reports {level:8} {code:5}: trend p50 {mine['p50_ms']:.1f} / p95 {mine['p95_ms']:.1f} ms; "
                      f"the same numbers from the rollup p95 {same['p95_ms']:.2f} ms vs raw GROUP BY "
                      f"p50 {base['p50_ms']:.1f} / p95 {base['p95_ms']:.1f} ms, ratio {ratio:.1f} (goal p95 < "
                      f"{GOAL_P95_MS:.0f} ms, ratio >= {GOAL_RATIO:.0f}): "
                      f"{'met' if levels[level]['met'] else 'NOT met'}", flush=True)
            engine.dispose()
            result["levels"] = levels
            result["equal"] = True
            result["met"] = all(v["met"] for v in levels.values())
            return result
        finally:
            container.dispose()
            if not keep:
                drop_database(pg, make_url(db_url).database)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg", required=True, help="PostgreSQL server URL (a database is created and dropped)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--establishments", type=int, default=100_000)
    ap.add_argument("--inspections", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()
    result = run(args.pg, args.establishments, args.inspections, args.repeat, args.warmup, args.seed, args.keep)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"reports: {args.establishments} establishments, {args.inspections} inspections loaded in "
          f"{result['load_s']} s, rollup in {result['rollup_s']} s ({result['rollup_rows']} rows); "
          f"goal {'met' if result['met'] else 'NOT met'} -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
