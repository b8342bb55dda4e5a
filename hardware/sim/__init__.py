"""Simulated hardware below the drivers, and its policy.

A fake RPi.GPIO with HX711 chips (``fake_gpio``), gpiozero pins on a virtual
clock (``pins``, ``clock``), the virtual board and patient (``simulator``,
``patient``), and ``hardware.SimulatedHardware``: all of it played in real time
for the daemon, with the policy of when the virtual patient presses start.
"""
