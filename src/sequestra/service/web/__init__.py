"""Web pages for people: a dashboard, cases, holdings, valuations, the Fund's exposure,
sales and the audit status, server-rendered with Jinja2, behind a session cookie."""
