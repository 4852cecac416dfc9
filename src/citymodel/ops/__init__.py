"""Pure geometry operations: triangulation, local frames."""
