"""Assignment 03: convolutional networks for Fashion-MNIST.

The steps, in order (each one a function the notebook and the grader call):

1. Prepare the data: `preprocess` scales the images, adds a channel axis and one-hot
   encodes the labels.
2. Build the models: `build_simple_cnn` is the classic small CNN
   (Conv2D -> MaxPooling2D -> Flatten -> Dense -> softmax); `build_cnn` is your own design,
   more accurate, under the parameter budget.
3. Train: `train` fits either model within the assignment's time budget.
4. Evaluate: `evaluate` reports the test loss and accuracy.

Nothing runs at import time: importing this module builds and trains nothing.

Shapes and letters used in the docstrings (channels-last, like Keras):
- N: number of images in a batch.
- H, W: image height and width (28 x 28 for Fashion-MNIST).
- C: channels (1: the images are grayscale).
- K: number of classes (10).
"""

from __future__ import annotations

import keras
import numpy as np

IMAGE_SHAPE = (28, 28)
INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
PARAMETER_BUDGET = 250_000


# ---------------------------------------------------------------------------
# Prepare the data
# ---------------------------------------------------------------------------
def preprocess(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale the images, add a channel axis and one-hot encode the labels.

    Inputs:
    - images: (N, H, W) uint8, pixel values in [0, 255]. Not modified.
    - labels: (N,) integer class ids in [0, K). Not modified.

    Returns a tuple of:
    - x: (N, H, W, 1) float32, pixel values scaled to [0, 1].
    - y: (N, K) float32 one-hot labels: y[i, labels[i]] == 1 and every other entry is 0.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"images must have shape (N, 28, 28), got {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
    x, y = None, None
    # TODO: convert the images to float32 scaled to [0, 1] with a trailing channel axis
    # (N, H, W, 1); one-hot encode the labels as float32 (N, K).
    # Hint: ndarray.astype, np.expand_dims (or x[..., None]), keras.utils.to_categorical.
    ### BEGIN SOLUTION
    x = np.expand_dims(images.astype(np.float32) / np.float32(255.0), axis=-1)
    y = keras.utils.to_categorical(labels, num_classes=NUM_CLASSES).astype(np.float32)
    ### END SOLUTION
    return x, y


# ---------------------------------------------------------------------------
# Build the models
# ---------------------------------------------------------------------------
def build_simple_cnn() -> keras.Model:
    """Build and compile the classic small CNN (693,962 parameters).

    Architecture:
        input (H, W, 1) -> Conv2D(32, 3x3, relu) -> MaxPooling2D(2x2) -> Flatten
        -> Dense(128, relu) -> Dense(K, softmax)
    Keras' defaults elsewhere: stride 1 and "valid" padding for the convolution.

    Returns:
    - model: a keras.Model mapping (N, H, W, 1) float32 to (N, K) float32 class
      probabilities, compiled with the Adam optimizer, categorical cross-entropy loss and
      the "accuracy" metric.
    """
    model = None
    # TODO: build the model with keras.Input(shape=(28, 28, 1)) and the five layers above,
    # then compile it with optimizer="adam", loss="categorical_crossentropy" and
    # metrics=["accuracy"].
    ### BEGIN SOLUTION
    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="simple_cnn",
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    ### END SOLUTION
    return model


def build_cnn() -> keras.Model:
    """Build and compile your own CNN: more accurate than the simple one, and cheap to train.

    Constraints (checked by the grader):
    - input (N, H, W, 1) float32 in [0, 1], output (N, K) float32 class probabilities
      (a softmax), built from Keras' own layers only (no Lambda, no custom classes);
    - at most PARAMETER_BUDGET (250,000) parameters;
    - compiled with a categorical cross-entropy loss (label smoothing allowed) and accuracy;
    - trained by `train` within the time budget in the README.

    Returns:
    - model: a compiled keras.Model.
    """
    model = None
    # TODO: design a small CNN. Ideas that pay off on a CPU: two or three convolution blocks
    # (Conv2D -> BatchNormalization -> ReLU, downsampling with MaxPooling2D or with a stride of
    # 2 in the convolution, which is cheaper), few filters, a small Dense layer with Dropout,
    # and a softmax output; a convolution's cost grows with the image size it runs at.
    # Compile with a categorical cross-entropy loss (try label_smoothing=0.1), an optimizer
    # such as keras.optimizers.AdamW, and metrics=["accuracy"]. Check model.count_params()
    # against PARAMETER_BUDGET.
    ### BEGIN SOLUTION
    # One cheap full-resolution convolution (16 filters on one input channel) keeps the fine
    # detail that tells a shirt from a T-shirt; max pooling then halves the image, and a 3x3
    # convolution with stride 2 brings it to 7 x 7 at a quarter of a full-resolution cost.
    # Batch normalisation lets a one-cycle learning rate converge in a few epochs; the Dense
    # layer holds most of the parameters (200,768 of 211,050).
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = keras.layers.Conv2D(16, kernel_size=(3, 3), padding="same",
                            activation="relu")(inputs)  # (28, 28, 16)
    x = keras.layers.MaxPooling2D(pool_size=(2, 2))(x)  # (14, 14, 16)
    x = keras.layers.Conv2D(64, kernel_size=(3, 3), strides=2, padding="same",
                            use_bias=False)(x)  # (7, 7, 64)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="fashion_cnn")
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        metrics=["accuracy"],
    )
    ### END SOLUTION
    return model


# ---------------------------------------------------------------------------
# Train
# ---------------------------------------------------------------------------
def train(model: keras.Model, x: np.ndarray, y: np.ndarray, *,
          seed: int = 0) -> keras.callbacks.History:
    """Train a compiled model (simple or your own) on preprocessed data, within the budget.

    You choose the number of epochs, the batch size and, if you like, a learning-rate
    schedule (set it inside this function, for example with a callback). The grader calls
    this function with the model from build_cnn() on the full training set (N = 60,000),
    then measures test accuracy.

    Inputs:
    - model: a compiled keras.Model, from build_simple_cnn() or build_cnn().
    - x: (N, H, W, 1) float32 in [0, 1], as returned by preprocess(). Not modified.
    - y: (N, K) float32 one-hot labels, as returned by preprocess(). Not modified.
    - seed: seeds Python, NumPy and the backend so that training is reproducible.

    Returns:
    - history: the keras.callbacks.History returned by model.fit.
    """
    keras.utils.set_random_seed(seed)
    history = None
    # TODO: call model.fit on (x, y) and keep its History. Choose epochs and batch_size so
    # that training takes about two minutes on a laptop. A "one-cycle" learning rate (a short
    # warm-up, then a cosine decay to zero, changed at every batch by a callback) lets a
    # batch-normalised CNN converge in a few epochs.
    ### BEGIN SOLUTION
    epochs, batch_size, peak_learning_rate = 8, 128, 3e-3
    total_steps = epochs * int(np.ceil(len(x) / batch_size))
    warmup_steps = int(0.15 * total_steps)
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
    - x: (N, H, W, 1) float32 in [0, 1]; y: (N, K) float32 one-hot.

    Returns:
    - metrics: {"loss": float, "accuracy": float}.
    """
    results = model.evaluate(x, y, batch_size=1000, verbose=0, return_dict=True)
    return {"loss": float(results["loss"]), "accuracy": float(results["accuracy"])}
