from core.imports.command import ImportCommand
from members.importers import RegistrationImporter


class Command(ImportCommand):
    help = "Import out-of-area registrations from a .csv or .xlsx file."
    importer_class = RegistrationImporter
