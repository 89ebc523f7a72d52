from claims.chronic_importers import InpatientTotalsImporter
from core.imports.command import ImportCommand


class Command(ImportCommand):
    help = "Import the inpatient system's yearly totals per member from a .csv or .xlsx file."
    importer_class = InpatientTotalsImporter
