"""`spe plot`: placeholder until its issue lands."""
