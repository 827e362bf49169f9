"""Checks of 03_fashion_cnn: test_public.py (this assignment has no hidden checks)."""
