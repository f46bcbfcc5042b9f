"""The inspection service: plans, risk-ranked visit lists, inspections, results, sanctions and referrals
(plan 33/KH-UBND, II.3 and III.2.2)."""
