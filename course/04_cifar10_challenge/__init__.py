"""Checks of 04_cifar10_challenge: test_public.py (graded from the submitted model)."""
