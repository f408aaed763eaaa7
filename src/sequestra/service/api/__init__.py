"""The HTTP API: read endpoints over the layers' read surfaces and the one write, a signed
statement, behind bearer tokens mapped to roles. `sequestra.service.app` mounts it."""
