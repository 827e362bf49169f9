"""Assignment 04: the CIFAR-10 challenge, the best test accuracy under a parameter budget.

The steps, in order (each one a function the notebook, the training script and the grader
call):

1. Start from the baseline: `build_baseline` is the course's seed network (three Conv2D ->
   MaxPooling2D stages, a Dense layer, a softmax) and `train_baseline` fits it for a few
   epochs. It reaches about 68% test accuracy in about a minute on a 2-core CPU.
2. Build your model: `build_model` returns a compiled network that takes raw pixels,
   normalises them itself and outputs class probabilities, with at most PARAMETER_BUDGET
   parameters, built from Keras' own layers only.
3. Train it: `train` fits the model on the images it is given (and never looks at the test
   set). Save the trained model as submission/model.keras: the grader loads that file with
   keras.saving.load_model(path, safe_mode=True, compile=False) and measures its test
   accuracy itself.

Nothing runs at import time: importing this module builds and trains nothing.

Shapes and letters used in the docstrings (channels-last, like Keras):
- N: number of images.
- H, W: image height and width (32 x 32 for CIFAR-10).
- C: channels (3: red, green, blue).
- K: number of classes (10).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

INPUT_SHAPE = (32, 32, 3)
NUM_CLASSES = 10
PARAMETER_BUDGET = 1_000_000


# ---------------------------------------------------------------------------
# The baseline: the network you start from
# ---------------------------------------------------------------------------
def build_baseline() -> keras.Model:
    """Build and compile the course's seed network for CIFAR-10 (541,094 parameters).

    Architecture (3x3 kernels, "same" padding, stride 1):
        input (H, W, C) in [0, 255] -> Rescaling(1/255)
        -> Conv2D(16, relu) -> MaxPooling2D(2) -> Conv2D(32, relu) -> MaxPooling2D(2)
        -> Conv2D(64, relu) -> MaxPooling2D(2) -> Flatten -> Dense(500, relu)
        -> Dense(K, softmax)

    Returns:
    - model: a keras.Model mapping (N, H, W, C) float32 pixels in [0, 255] to (N, K)
      float32 class probabilities, compiled with Adam, categorical cross-entropy and the
      "accuracy" metric.
    """
    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),  # (32, 32, 16)
            keras.layers.MaxPooling2D(2),  # (16, 16, 16)
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),  # (16, 16, 32)
            keras.layers.MaxPooling2D(2),  # (8, 8, 32)
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),  # (8, 8, 64)
            keras.layers.MaxPooling2D(2),  # (4, 4, 64)
            keras.layers.Flatten(),  # (1024,)
            keras.layers.Dense(500, activation="relu"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="baseline",
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def train_baseline(model: keras.Model, x: np.ndarray, y: np.ndarray, *,
                   seed: int = 0) -> keras.callbacks.History:
    """Fit the baseline with plain `model.fit`: a few epochs, no augmentation, no schedule.

    Inputs:
    - model: a compiled keras.Model from build_baseline().
    - x: (N, H, W, C) uint8 or float pixels in [0, 255]. Not modified.
    - y: (N,) or (N, 1) integer class ids in [0, K). Not modified.
    - seed: seeds Python, NumPy and the backend so that training is reproducible.

    Returns:
    - history: the keras.callbacks.History returned by model.fit.
    """
    keras.utils.set_random_seed(seed)
    epochs, batch_size = 5, 64
    images = np.asarray(x, dtype=np.float32)
    labels = keras.utils.to_categorical(np.asarray(y).reshape(-1), NUM_CLASSES)
    return model.fit(images, labels, epochs=epochs, batch_size=batch_size, shuffle=True,
                     verbose=0)


# ---------------------------------------------------------------------------
# Your model
# ---------------------------------------------------------------------------
def build_model() -> keras.Model:
    """Build and compile your CIFAR-10 network.

    Constraints (checked by the grader):
    - input (N, H, W, C) float32 raw pixels in [0, 255]: normalise inside the model;
    - output (N, K) float32 class probabilities (a softmax);
    - at most PARAMETER_BUDGET (1,000,000) parameters, trainable or not;
    - Keras' built-in layers and ops only (no Lambda, no custom classes or initializers), so
      that keras.saving.load_model(path, safe_mode=True, compile=False) loads the saved file.
      Weights that need data (a whitening layer, for example) are set by `train`.

    Returns:
    - model: a compiled keras.Model.
    """
    model = None
    # TODO: design a network that beats the baseline by a wide margin, cheaply. Ideas that pay
    # off on a CPU: batch normalisation after every convolution, max pooling right after a
    # convolution (before the normalisation, a quarter of its cost), a global pooling head
    # instead of a large Dense layer, and averaging the predictions of each image and its
    # mirror image (keras.ops.flip on the input tensor, one shared network, keras.layers.
    # Average). Check model.count_params() against PARAMETER_BUDGET.
    # YOUR CODE HERE
    raise NotImplementedError()
    return model


def train(model: keras.Model, x: np.ndarray, y: np.ndarray, *, seed: int = 0,
          epoch_end: Callable[[int, keras.Model], object] | None = None,
          ) -> keras.callbacks.History:
    """Train a model from build_model() on the images it is given.

    Inputs:
    - model: a compiled keras.Model from build_model().
    - x: (N, H, W, C) uint8 or float pixels in [0, 255]. Not modified.
    - y: (N,) or (N, 1) integer class ids in [0, K). Not modified.
    - seed: seeds Python, NumPy and the backend so that training is reproducible.
    - epoch_end: None, or a callable epoch_end(epoch, model) called after each epoch
      (epoch counts from 0); the training script uses it to record the test accuracy. It
      may set model.stop_training = True to end training after that epoch.

    Returns:
    - history: a keras.callbacks.History whose .history holds one value per epoch of the
      training "loss" and "accuracy".
    """
    keras.utils.set_random_seed(seed)
    history = None
    # TODO: fit the model and keep a History (model.fit returns one). Set any weights that
    # need the data first. Ideas that pay off: random translations by a few pixels and
    # mirror images (new ones every epoch), label smoothing (CategoricalCrossentropy with
    # one-hot labels), a learning rate that rises then falls at every batch, and an average
    # of the weights over the last steps (the optimizer's use_ema). Count the batches
    # yourself: reading model.optimizer.iterations at every batch slows training down.
    # YOUR CODE HERE
    raise NotImplementedError()
    return history
