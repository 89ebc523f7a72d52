from core.imports.command import ImportCommand
from members.importers import ReferenceValueImporter


class Command(ImportCommand):
    help = "Import reference data by year (average pension, average wage) from a .csv or .xlsx file."
    importer_class = ReferenceValueImporter
