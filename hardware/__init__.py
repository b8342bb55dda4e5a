"""Everything that touches pins: switch inputs, the HX711 driver, the live station and the simulated one.

Knows nothing of protocols or screens; imports from ``station`` only its
events, config and errors (tests/test_layering.py). Hardware is always
injected: a gpiozero pin factory for the switches, an RPi.GPIO-compatible
module for the HX711s, and a clock. The daemon sees one ``hardware.base.Hardware``:
``hardware.live.LiveHardware`` on the Pi, ``hardware.sim.hardware.SimulatedHardware``
elsewhere.
"""
