"""The cases service: tips, criminal cases from opening to verdict, and hotspots (plan 33/KH-UBND, II.4 and III.2.2)."""
