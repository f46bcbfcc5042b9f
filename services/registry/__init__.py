"""The registry service: the register of conditional-business establishments (plan 33/KH-UBND, II.2)."""
