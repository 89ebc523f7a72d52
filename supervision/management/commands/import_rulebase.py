from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.errors import DomainError
from supervision.services import rulebase_import


class Command(BaseCommand):
    help = "Replace one batch (1, 7 or 8-1) of the national rule library knowledge base with a spreadsheet."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--batch", choices=["1", "7", "8-1"], help="checked against the headers (detected if omitted)")

    def handle(self, *args, path, batch=None, **options):
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            with transaction.atomic(durable=True):
                record = rulebase_import(source=str(file), batch=batch, file_name=file.name)
        except DomainError as error:
            for line in error.details.get("errors", []):
                self.stderr.write(line)
            raise CommandError(str(error.message)) from None
        self.stdout.write(f"batch {record.batch}: {record.rows} rows imported (the batch was replaced)")
