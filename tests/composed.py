"""The application as composed, for the tests: the same rule set and reports as every entry
point takes from `sequestra.composition`."""

from sequestra.composition import application

APPLICATION = application()
RULES = APPLICATION.rules
REPORTS = APPLICATION.reports
