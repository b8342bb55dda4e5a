"""Widgets of the station screens: the board, the big timer and its ASCII font."""
