from claims.chronic_importers import ChronicRegistrationImporter
from core.imports.command import ImportCommand


class Command(ImportCommand):
    help = "Import chronic and special disease registrations from a .csv or .xlsx file."
    importer_class = ChronicRegistrationImporter
