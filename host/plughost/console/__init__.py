"""The read-only operator console at ``/console``: plugins, health and traffic in a browser."""
