"""`sequestra-sandbox demo`: the whole ledger tried end to end on the sandbox (see `command`)."""
