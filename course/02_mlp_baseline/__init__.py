"""Checks of 02_mlp_baseline: test_public.py and test_hidden.py."""
