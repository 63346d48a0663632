"""The blog itself: each user's own posts.

``service`` is where a post is loaded and changed for the logged-in user (ownership is
in every query's WHERE clause, ``queries``); ``pages`` (HTML), ``api`` (JSON, with
``schemas``) and ``models`` (the table).
"""
