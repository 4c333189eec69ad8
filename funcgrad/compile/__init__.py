"""jit: compile pipeline over the IR."""
