"""PDF reports made on the station, from stored records: one page per test, and a patient's progress.

``test_report.test_report_pdf`` and ``progress_report.progress_report_pdf``
take the records as the store gives them (``station.test/1`` records and the
patient) and return the PDF's bytes; the record's JSON is attached inside the
PDF. Drawn with fpdf2 alone (vector chart from its line and polygon
primitives, the PDF core fonts), so it runs on a Pi Zero 2 W without
matplotlib. No clock and no file access: the caller passes the time the report
is made and writes the bytes (``station report``, the therapist screen).
"""
