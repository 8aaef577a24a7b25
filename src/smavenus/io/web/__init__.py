"""smavenus-web's edges: what it reads from D-Bus (:mod:`~smavenus.io.web.bus`) and the HTTP
server (:mod:`~smavenus.io.web.server`). aiohttp is imported here only: the three core
services never load it (it is the optional ``web`` extra)."""
