from core.imports.command import ImportCommand
from members.importers import EpisodeImporter


class Command(ImportCommand):
    help = "Import inpatient stays and long-term-care episodes from a .csv or .xlsx file."
    importer_class = EpisodeImporter
