"""The contracts shared by every Lành Mạnh service.

Only what crosses a service boundary lives here: event types with their versions and
schemas, topic names, and reference data (the GSO administrative units). No code that
talks to a database, a broker or HTTP: services and the chassis depend on this
package, never the reverse.
"""
