"""The Lành Mạnh chassis: the infrastructure every service stands on.

App factory, configuration, auth, errors, metrics, logging, database sessions, the
transactional outbox and its relay, the inbox and the consumer runner, and the two
event transports (Kafka and the embedded one). Nothing here knows any service.
"""
