import sys
import time

from django.conf import settings
from django.core.management import BaseCommand, CommandError
from django.db import connections, transaction
from tqdm import tqdm

from shop import database_copy as dbcopy
from shop.databases import describe


class Command(BaseCommand):
    help = (
        "Copy everything routed to one database alias (its app tables, that database's outbox, "
        "inbox and dead letters; for default also users, groups, permissions, content types) to "
        "the empty database at --to URL: migrate the target, copy in primary-key batches in one "
        "transaction, reset its sequences, then verify row counts and a checksum per table. "
        "--check only compares (exit status 1 when they differ)."
    )

    def add_arguments(self, parser):
        parser.add_argument("alias", help=f"one of {', '.join(settings.SERVED_ALIASES)}")
        parser.add_argument(
            "--to", required=True, dest="url", metavar="URL", help="postgres://... or sqlite:///..."
        )
        parser.add_argument(
            "--check", action="store_true", help="only compare source and target; copy nothing"
        )
        parser.add_argument("--batch-size", type=int, default=dbcopy.BATCH_SIZE, help="rows per batch")

    def handle(self, *args, alias, url, check=False, batch_size=dbcopy.BATCH_SIZE, **options):
        if alias not in settings.SERVED_ALIASES:
            raise CommandError(
                f"{alias!r} is not a database of this process; choose from {settings.SERVED_ALIASES}"
            )
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            with dbcopy.target_database(url, alias=alias) as target:
                self.stdout.write(
                    f"{'check' if check else 'copy'} {alias}: {describe(connections[alias].settings_dict)}"
                    f" -> {describe(connections[target].settings_dict)}"
                )
                tables = dbcopy.tables_of(alias)
                if check:
                    self._check(alias, target, tables, batch_size)
                else:
                    self._copy(alias, target, tables, batch_size)
        except dbcopy.CopyRefused as exc:
            raise CommandError(f"refused: {exc}")

    # --- copy ----------------------------------------------------------------------------------
    def _copy(self, alias: str, target: str, tables: list[dbcopy.Table], batch_size: int) -> None:
        started = time.perf_counter()
        behind = dbcopy.unapplied_migrations(alias)
        if behind:
            raise dbcopy.CopyRefused(
                f"the source lacks {len(behind)} migration(s) of this code ({', '.join(behind[:3])}...): "
                "migrate it first (manage.py migrate_all), so both sides have the same columns"
            )
        derived = dbcopy._derived_tables()
        holding = [t for t in dbcopy.tables_with_rows(target, tables) if t not in derived]
        if holding:
            raise dbcopy.CopyRefused(
                f"the target already holds rows in {', '.join(holding)}; copy into an empty database"
            )
        applied = dbcopy.migrate(target)
        self.stdout.write(
            f"migrated the target: {len(applied)} migration(s) applied"
            if applied
            else "the target was migrated already"
        )
        replaced = dbcopy.tables_with_rows(target, tables)
        if set(replaced) - derived:  # a data migration wrote rows: they would clash with the copy
            raise dbcopy.CopyRefused(f"migrating the target wrote rows into {', '.join(replaced)}")

        self.stdout.write(f"copying {len(tables)} tables in one transaction, {batch_size} rows a batch")
        copy_started = time.perf_counter()
        copied: list[dbcopy.Copied] = []
        with transaction.atomic(using=target), dbcopy.snapshot(alias):
            for table in tables:
                if table.name in replaced:
                    # What `migrate` created there by itself; the source's replace them, ids included.
                    table.model._base_manager.using(target).all().delete()
                copied.append(self._copy_table(table, alias, target, batch_size))
            sequences = dbcopy.reset_sequences(target, tables)
        seconds = time.perf_counter() - copy_started
        rows = sum(c.rows for c in copied)
        self.stdout.write(f"reset {sequences} sequence(s)")
        verify_started = time.perf_counter()

        self.stdout.write("verifying: row count and checksum of every table, source against target")
        differing = self._report([self._compare(t, alias, target, batch_size) for t in tables])
        verified = time.perf_counter() - verify_started
        if differing:
            raise CommandError(
                f"the copy differs from the source in {', '.join(differing)}: was something writing "
                "to the source? Stop its writers, empty the target and copy again.",
                returncode=1,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"copied {rows:,} rows in {len(tables)} tables in {seconds:.1f} s "
                f"({rows / max(seconds, 1e-9):,.0f} rows/s); verified equal in {verified:.1f} s; "
                f"{time.perf_counter() - started:.1f} s in all"
            )
        )

    def _copy_table(self, table: dbcopy.Table, alias: str, target: str, batch_size: int) -> dbcopy.Copied:
        with _bar(table.count(alias), table.name) as bar:
            done = dbcopy.copy_table(table, alias, target, batch_size=batch_size, progress=bar.update)
        rate = f"{done.rate:>11,.0f} rows/s" if done.rows else ""
        self.stdout.write(f"  {done.table:<36}{done.rows:>10,} rows {done.seconds:>7.2f} s {rate}")
        return done

    def _compare(self, table: dbcopy.Table, alias: str, target: str, batch_size: int) -> dbcopy.Comparison:
        with _bar(table.count(alias), f"{table.name} (checksums)") as bar:
            return dbcopy.compare(table, alias, target, batch_size, progress=bar.update)

    # --- check ---------------------------------------------------------------------------------
    def _check(self, alias: str, target: str, tables: list[dbcopy.Table], batch_size: int) -> None:
        problems = []
        # Only the migrations of apps with tables here: the others record no-ops, which differ
        # between a monolith's database and one a split service migrated.
        apps_here = {t.model._meta.app_label for t in tables}
        ours, theirs = (
            {(app, name) for app, name in dbcopy.applied_migrations(db) if app in apps_here}
            for db in (alias, target)
        )
        if ours != theirs:
            only_source = sorted(f"{a}.{n}" for a, n in ours - theirs)
            only_target = sorted(f"{a}.{n}" for a, n in theirs - ours)
            problems.append("migrations")
            self.stdout.write(
                f"migrations differ: only in the source {only_source[:5]}, "
                f"only in the target {only_target[:5]}"
            )
        comparisons = [self._compare(t, alias, target, batch_size) for t in tables]
        problems += self._report(comparisons)
        if problems:
            raise CommandError(f"source and target differ: {', '.join(problems)}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"source and target are equal ({len(tables)} tables)"))

    def _report(self, comparisons: list[dbcopy.Comparison]) -> list[str]:
        """Print one line per table; return the names of the tables that differ."""
        self.stdout.write(f"  {'table':<36}{'source':>10}{'target':>10}  {'checksum':<18}")
        for c in comparisons:
            target_rows = "-" if c.target_rows is None else f"{c.target_rows:,}"
            line = (
                f"  {c.table:<36}{c.source_rows:>10,}{target_rows:>10}  "
                f"{c.source_checksum[:16]}  {c.describe()}"
            )
            self.stdout.write(line if c.equal else self.style.ERROR(line))
        return [c.table for c in comparisons if not c.equal]


def _bar(total: int, what: str) -> tqdm:
    """A live bar on a terminal (rows, rows/s), gone when done; nothing when not on a terminal
    (logs and pipes get the one line per table the command prints)."""
    return tqdm(
        total=total,
        desc=f"  {what}",
        unit=" rows",
        unit_scale=True,
        leave=False,
        disable=None,
        file=sys.stderr,
    )
