"""The offline auditor's checks: export bundles, proofs, signed notes, anchors.

Every module here imports only the standard library, `cryptography` and the pure ledger
modules (the same verification core as `sequestra verify`); `sequestra.audit.cli` is the
`sequestra-audit` command.
"""
