"""`spe sweep`: placeholder until its issue lands."""
