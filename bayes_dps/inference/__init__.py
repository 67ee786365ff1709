"""Samplers and online posteriors (SGLD family, KFAC Laplace) arrive with their issues."""
