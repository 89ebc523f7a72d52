"""The one shape of every import command (CONTRACT.md "Management commands"):
`PATH` and `--dry-run`, a progress bar on stderr, one summary line, a non-zero exit listing
each bad row when any row is bad (and then nothing is written)."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from core.imports.pipeline import Importer, Outcome, import_file, tqdm_progress_factory


class ImportCommand(BaseCommand):
    importer_class: type[Importer] = Importer

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="PATH", help="a .csv (UTF-8 or GBK) or .xlsx file")
        parser.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")

    def handle(self, *args, path, dry_run=False, **options):
        if not Path(path).is_file():
            raise CommandError(_("No such file: %(path)s") % {"path": path})
        outcome = self.run(path, dry_run=dry_run, verbosity=options.get("verbosity", 1))
        return self.report(outcome)

    def run(self, path, *, dry_run: bool, verbosity: int = 1) -> tuple[Outcome, float]:
        importer = self.importer_class(change_reason=f"import_{self.importer_class.kind} {Path(path).name}")
        started = time.perf_counter()
        with tqdm_progress_factory(self.stderr._out, disable=verbosity < 1) as progress:
            outcome = import_file(importer, path, dry_run=dry_run, progress=progress)
        return outcome, time.perf_counter() - started

    def report(self, result) -> None:
        outcome, seconds = result
        if outcome.ignored_columns:
            self.stderr.write(_("Ignored columns: %(columns)s") % {"columns": ", ".join(outcome.ignored_columns)})
        if outcome.errors:
            for error in outcome.errors:
                self.stderr.write(error.contract_line())
            raise CommandError(outcome.summary())
        self.stdout.write(f"{outcome.summary()} ({seconds:.1f} s)")
