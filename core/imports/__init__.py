"""One import pipeline for every kind of spreadsheet: commands and the admin share it."""
