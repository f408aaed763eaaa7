"""Who may use the service: API tokens and the roles they carry, shared by the API and the
pages (neither imports the other)."""
