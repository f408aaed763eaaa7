"""Local stand-ins for trying and testing Sequestra, and the demo (`sequestra-sandbox`).

Not part of the production package: this package may import `sequestra`, never the reverse.
"""
