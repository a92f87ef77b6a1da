"""Reading checkpoints without executing code from them (the security boundary)."""
