"""The support service: reintegration support for people who sold sex (plan 33/KH-UBND, I.4 and III); their identity never leaves it."""
