"""smavenus-web's pure parts: the live view, the chart history, passwords and sessions, and
the settings form. The edge (:mod:`smavenus.io.web`) serves them over HTTP."""
