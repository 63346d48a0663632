"""The serving machinery: Hypercorn configuration and sockets (``server``, ``sockets``), the
request runner (``runner``), the request class (``requests``), garbage-collector tuning
(``gc_tuning``) and fast JSON responses (``responses``)."""
