"""What the screens show, computed without Textual: testable as plain Python."""
