from core.importing_command import ImportCommand
from claims.importers import CatalogItemImporter


class Command(ImportCommand):
    help = "Import catalog items from a .csv or .xlsx file."
    importer_class = CatalogItemImporter
