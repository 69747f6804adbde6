"""`spe train`: placeholder until its issue lands."""
