"""The Textual UI: a client of the station daemon's socket API (docs/api.md).

``station.ui.app.create_app`` builds the app; ``station ui`` runs it.
"""
