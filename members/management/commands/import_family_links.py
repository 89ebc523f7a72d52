from core.imports.command import ImportCommand
from members.importers import FamilyLinkImporter


class Command(ImportCommand):
    help = "Import family links (stored both ways) from a .csv or .xlsx file."
    importer_class = FamilyLinkImporter
