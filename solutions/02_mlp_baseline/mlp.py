"""Assignment 02: a multilayer-perceptron baseline for Fashion-MNIST.

The steps, in order (each one a function the notebook and the grader call):

1. Prepare the data: `preprocess` scales, flattens and one-hot encodes the images.
2. Build the model: `build_mlp` stacks Dense layers and compiles the model.
3. Train: `train` fits the model within the assignment's time budget.
4. Evaluate: `evaluate` reports the test loss and accuracy.

Nothing runs at import time: importing this module builds and trains nothing.

Shapes and letters used in the docstrings:
- N: number of images in a batch.
- H, W: image height and width (28 x 28 for Fashion-MNIST).
- D: features per flattened image, D = H * W = 784.
- K: number of classes (10).
"""

from __future__ import annotations

import keras
import numpy as np

IMAGE_SHAPE = (28, 28)
NUM_FEATURES = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
NUM_CLASSES = 10


# ---------------------------------------------------------------------------
# Prepare the data
# ---------------------------------------------------------------------------
def preprocess(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale, flatten and one-hot encode a batch of Fashion-MNIST images.

    Inputs:
    - images: (N, H, W) uint8, pixel values in [0, 255]. Not modified.
    - labels: (N,) integer class ids in [0, K). Not modified.

    Returns a tuple of:
    - x: (N, D) float32, pixel values scaled to [0, 1]; each image flattened row by row
      (row-major, like `images.reshape(N, -1)`).
    - y: (N, K) float32 one-hot labels: y[i, labels[i]] == 1 and every other entry is 0.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"images must have shape (N, 28, 28), got {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
    x, y = None, None
    # TODO: flatten each image to a row of D values, convert to float32 and scale
    # to [0, 1] (pixels are 0..255); one-hot encode the labels as float32 (N, K).
    # Hint: np.reshape, ndarray.astype, keras.utils.to_categorical. Never modify the inputs.
    ### BEGIN SOLUTION
    x = images.reshape(images.shape[0], NUM_FEATURES).astype(np.float32) / np.float32(255.0)
    y = keras.utils.to_categorical(labels, num_classes=NUM_CLASSES).astype(np.float32)
    ### END SOLUTION
    return x, y


# ---------------------------------------------------------------------------
# Build the model
# ---------------------------------------------------------------------------
def build_mlp(hidden_units: tuple[int, ...] = (512, 512), dropout: float = 0.2,
              num_classes: int = NUM_CLASSES) -> keras.Model:
    """Build and compile a multilayer perceptron for flattened images.

    The architecture, for the defaults (669,706 parameters):
        input (D,) -> Dense(512, relu) -> Dropout(0.2) -> Dense(512, relu) -> Dropout(0.2)
        -> Dense(K, softmax)
    that is, one Dense(units, relu) + Dropout(dropout) pair per entry of `hidden_units`,
    then a softmax output layer.

    Inputs:
    - hidden_units: number of units of each hidden Dense layer, in order.
    - dropout: dropout rate applied after each hidden layer, in [0, 1).
    - num_classes: K, the number of output units.

    Returns:
    - model: a keras.Model mapping (N, D) float32 to (N, K) float32 class probabilities,
      compiled with the Adam optimizer, categorical cross-entropy loss and the
      "accuracy" metric.
    """
    model = None
    # TODO: build a keras.Sequential (or Functional) model: keras.Input(shape=(D,)), then for
    # each entry of hidden_units a Dense layer with ReLU followed by a Dropout layer, then a
    # Dense layer with num_classes units and a softmax. Compile it with optimizer="adam",
    # loss="categorical_crossentropy" and metrics=["accuracy"].
    ### BEGIN SOLUTION
    model = keras.Sequential(name="mlp")
    model.add(keras.Input(shape=(NUM_FEATURES,)))
    for units in hidden_units:
        model.add(keras.layers.Dense(units, activation="relu"))
        model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(num_classes, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    ### END SOLUTION
    return model


# ---------------------------------------------------------------------------
# Train
# ---------------------------------------------------------------------------
def train(model: keras.Model, x: np.ndarray, y: np.ndarray, *,
          seed: int = 0) -> keras.callbacks.History:
    """Train a compiled model on preprocessed data, within the assignment's time budget.

    You choose the number of epochs, the batch size and, if you like, a learning-rate
    schedule (set it inside this function, for example with a callback). The grader calls
    this function on the full training set (N = 60,000) and then measures test accuracy.

    Inputs:
    - model: a compiled keras.Model, for example from build_mlp().
    - x: (N, D) float32 in [0, 1], as returned by preprocess(). Not modified.
    - y: (N, K) float32 one-hot labels, as returned by preprocess(). Not modified.
    - seed: seeds Python, NumPy and the backend so that training is reproducible.

    Returns:
    - history: the keras.callbacks.History returned by model.fit.
    """
    keras.utils.set_random_seed(seed)
    history = None
    # TODO: call model.fit on (x, y) and keep its History. Choose epochs and batch_size so
    # that training takes about a minute on a laptop. A constant learning rate works; a
    # warm-up followed by a cosine decay of the learning rate (changed at every batch by a
    # keras.callbacks.Callback) reaches the same accuracy in fewer epochs.
    ### BEGIN SOLUTION
    epochs, batch_size, peak_learning_rate = 15, 512, 2e-3
    total_steps = epochs * int(np.ceil(len(x) / batch_size))
    warmup_steps = total_steps // 10
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_learning_rate / 10,
        decay_steps=total_steps - warmup_steps,
        alpha=0.0,
        warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps,
    )
    # Count the steps here instead of reading model.optimizer.iterations: reading a value
    # back from TensorFlow at every batch waits for the step before it, which made training
    # about 35% slower.
    step = 0

    def set_learning_rate(batch: int, logs: dict | None = None) -> None:
        nonlocal step
        model.optimizer.learning_rate = float(schedule(min(step, total_steps)))
        step += 1

    history = model.fit(
        x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
        callbacks=[keras.callbacks.LambdaCallback(on_train_batch_begin=set_learning_rate)],
    )
    ### END SOLUTION
    return history


# ---------------------------------------------------------------------------
# Evaluate
# ---------------------------------------------------------------------------
def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Loss and accuracy of a trained model on preprocessed data.

    Inputs:
    - model: a trained keras.Model.
    - x: (N, D) float32 in [0, 1]; y: (N, K) float32 one-hot.

    Returns:
    - metrics: {"loss": float, "accuracy": float}.
    """
    results = model.evaluate(x, y, batch_size=1000, verbose=0, return_dict=True)
    return {"loss": float(results["loss"]), "accuracy": float(results["accuracy"])}
