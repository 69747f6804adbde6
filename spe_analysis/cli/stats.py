"""`spe stats`: placeholder until its issue lands."""
