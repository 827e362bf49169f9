"""Helpers shared by several assignments' checks: trusted side and worker-side tasks."""
