from claims.importers import CatalogItemImporter
from core.imports.command import ImportCommand


class Command(ImportCommand):
    help = "Import catalog items from a .csv or .xlsx file."
    importer_class = CatalogItemImporter
