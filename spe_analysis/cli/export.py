"""`spe export`: placeholder until its issue lands."""
