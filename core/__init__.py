"""The ground floor: machinery every app shares and no app owns.

Realtime events after commit, provider errors and the retry policy, stored provider
deliveries, the untrusted-JSON entry point, encryption at rest, short-lived marks, the API's
base classes. Nothing here imports a domain app (tests/test_import_graph.py holds it to that).
"""
