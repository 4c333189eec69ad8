"""The IR and tracing machinery; knows no primitive by name."""
