from claims.chronic_importers import DiseaseImporter
from core.imports.command import ImportCommand


class Command(ImportCommand):
    help = "Import the region's chronic and special disease list from a .csv or .xlsx file."
    importer_class = DiseaseImporter
