"""Accounts: register, log in and out, sessions, passwords, the account page.

``auth`` is where login happens, ``sessions`` where each request's session is checked,
``passwords`` hashes off the event loop; ``pages`` / ``account_pages`` (HTML), ``api``
(JSON, with ``schemas``), ``queries`` (every SQL statement) and ``models`` (the tables).
"""
