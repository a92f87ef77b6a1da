"""The lowest layer: the model contract every family, pass and exporter reads."""
