"""`spe figures`: placeholder until its issue lands."""
