"""The station's records: the store (patients, tests, trials), crash-safe files, the live journal, export."""
