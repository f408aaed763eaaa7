"""The State Fund of Digital Assets: its sale workflow, exposure and risk."""
