from core.imports.command import ImportCommand
from members.importers import AccountOpeningImporter


class Command(ImportCommand):
    help = "Import opening personal-account balances carried over from the previous system."
    importer_class = AccountOpeningImporter
