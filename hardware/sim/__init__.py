"""Simulated hardware below the drivers: a fake RPi.GPIO with HX711 chips, a virtual board and patient, a virtual clock."""
