"""funcgrad.numpy.linalg's decompositions: being written."""
__all__: list[str] = []
