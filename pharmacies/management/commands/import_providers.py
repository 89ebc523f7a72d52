from core.imports.command import ImportCommand
from pharmacies.importers import ProviderImporter


class Command(ImportCommand):
    help = "Import designated providers from a .csv or .xlsx file."
    importer_class = ProviderImporter
