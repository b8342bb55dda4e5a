"""The station's screens: patient (the default), therapist and technician (behind PINs),
the PIN dialog and the reconnecting overlay."""
