"""Everything that touches pins: switch inputs, the HX711 driver, fakes and the simulator.

Knows nothing of protocols or screens. Hardware is always injected: a gpiozero
pin factory for the switches, an RPi.GPIO-compatible module for the HX711s,
and a clock.
"""
