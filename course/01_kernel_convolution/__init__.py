"""Checks of 01_kernel_convolution: test_public.py, test_hidden.py and their references."""
