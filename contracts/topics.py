"""Kafka topic names. One topic per aggregate type; the message key is the aggregate id,
so one aggregate's events keep their order."""

REGISTRY_ESTABLISHMENTS = "lanhmanh.registry.establishments"

#: Events a consumer could not parse or apply after its retries, with the error.
DEAD_LETTERS = "lanhmanh.dead-letters"

INSPECTION_INSPECTIONS = "lanhmanh.inspection.inspections"  # key: inspection id
INSPECTION_REFERRALS = "lanhmanh.inspection.referrals"  # key: referral id
INSPECTION_RISK = "lanhmanh.inspection.risk-assessments"  # key: establishment id
CASES_TIPS = "lanhmanh.cases.tips"  # key: tip id
CASES_CASES = "lanhmanh.cases.cases"  # key: case id
CASES_HOTSPOTS = "lanhmanh.cases.hotspots"  # key: hotspot id
CASES_REFERRALS = "lanhmanh.cases.referrals"  # key: referral id
SUPPORT_CASES = "lanhmanh.support.cases"  # key: the person's pseudonymous id

ALL = (REGISTRY_ESTABLISHMENTS, INSPECTION_INSPECTIONS, INSPECTION_REFERRALS, INSPECTION_RISK, CASES_TIPS, CASES_CASES,
       CASES_HOTSPOTS, CASES_REFERRALS, SUPPORT_CASES, DEAD_LETTERS)
