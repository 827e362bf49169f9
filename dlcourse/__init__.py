"""Helpers that the course's code and notebooks may import.

- `dlcourse.data`: Fashion-MNIST and CIFAR-10 loaders, identical to Keras' own, without TensorFlow.
- `dlcourse.plotting`: sample grids, kernels, feature maps, training curves, confusion matrices.

Nothing is imported here, so `import dlcourse.data` stays fast and NumPy-only.
"""
