from core.imports.command import ImportCommand
from members.importers import MemberImporter


class Command(ImportCommand):
    help = "Import members and their enrollment from a .csv or .xlsx file (CONTRACT.md columns)."
    importer_class = MemberImporter
