"""Kafka topic names. One topic per aggregate type; the message key is the aggregate id,
so one aggregate's events keep their order."""

REGISTRY_ESTABLISHMENTS = "lanhmanh.registry.establishments"

#: Events a consumer could not parse or apply after its retries, with the error.
DEAD_LETTERS = "lanhmanh.dead-letters"

ALL = (REGISTRY_ESTABLISHMENTS, DEAD_LETTERS)
