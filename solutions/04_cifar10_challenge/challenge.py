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
    ### BEGIN SOLUTION
    # A port of Keller Jordan's airbench (github.com/KellerJordan/airbench) to Keras' built-in
    # layers, at the widest third stage that fits the budget (176 channels: 992,984
    # parameters). The trunk maps pixels to logits and is what `train` fits; the model
    # averages the trunk's logits on each image and on its mirror image (flip test-time
    # augmentation: 93.2% -> 93.6% measured, for twice the cost of inference and no extra
    # parameters).
    widths = (64, 176, 176)  # output channels of the three convolution groups
    whiten_width = 24  # 2 x 12: each eigenvector of the 2x2x3 patches, and its negative
    batchnorm_momentum = 0.4  # Keras' 0.4 is PyTorch's 0.6: statistics of the last few batches
    logit_scale = 1 / 9  # keeps the initial logits small, as airbench does
    # bfloat16 arithmetic with float32 weights: 1.4x faster than float32 on a CPU with
    # AVX512-BF16 (measured: 87 s instead of 122 s per epoch); batch normalisation and the
    # logits stay in float32.
    precision = "mixed_bfloat16"
    # PyTorch's default initialisation, uniform in +-1/sqrt(fan_in): smaller than Keras'
    # Glorot default, which matters for the effective learning rate of the filters.
    initializer = keras.initializers.VarianceScaling(1 / 3, mode="fan_in",
                                                     distribution="uniform")
    pixel_mean = [125.307, 122.961, 113.8575]
    pixel_std = [51.5865, 50.847, 51.255]

    def conv_bn_gelu(x, width, pool):
        """(N, h, w, c) -> (N, h, w, width), or (N, h // 2, w // 2, width) if pool."""
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                kernel_initializer=initializer, dtype=precision)(x)
        if pool:  # pooling before the normalisation makes the normalisation 4x cheaper
            x = keras.layers.MaxPooling2D(2, dtype=precision)(x)
        x = keras.layers.BatchNormalization(momentum=batchnorm_momentum, epsilon=1e-12,
                                            scale=False, dtype=precision)(x)
        return keras.layers.Activation("gelu", dtype=precision)(x)

    image = keras.Input(shape=INPUT_SHAPE, name="image")
    x = keras.layers.Normalization(mean=pixel_mean, variance=np.square(pixel_std).tolist(),
                                   name="normalize")(image)
    # 2x2 convolution whose filters `train` sets from the data, to whiten its patches, and
    # then leaves alone.
    x = keras.layers.Conv2D(whiten_width, 2, name="whiten", dtype=precision)(x)  # (31, 31, 24)
    x = keras.layers.Activation("gelu", dtype=precision)(x)
    for width in widths:  # (31, 31) -> (15, 15) -> (7, 7) -> (3, 3)
        x = conv_bn_gelu(x, width, pool=True)
        x = conv_bn_gelu(x, width, pool=False)
    x = keras.layers.GlobalMaxPooling2D(dtype=precision)(x)  # (176,)
    x = keras.layers.Dense(NUM_CLASSES, use_bias=False, kernel_initializer=initializer,
                           dtype=precision, name="head")(x)
    logits = keras.layers.Rescaling(logit_scale, dtype="float32", name="logits")(x)
    trunk = keras.Model(image, logits, name="trunk")

    # Identity ("Dirac") initialisation of the first input-many filters of each 3x3
    # convolution: the deep network starts close to a shallow one and trains faster.
    for layer in trunk.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.name != "whiten":
            kernel = keras.ops.convert_to_numpy(layer.kernel)  # (3, 3, c_in, c_out)
            c_in = kernel.shape[2]
            kernel[:, :, :, :c_in] = 0
            kernel[1, 1, np.arange(c_in), np.arange(c_in)] = 1
            layer.kernel.assign(kernel)

    image = keras.Input(shape=INPUT_SHAPE, name="image")
    mirror = keras.ops.flip(image, axis=2)  # (N, H, W, C) flipped left-right
    logits = keras.layers.Average(name="flip_average")([trunk(image), trunk(mirror)])
    probabilities = keras.layers.Activation("softmax", dtype="float32",
                                            name="probabilities")(logits)
    model = keras.Model(image, probabilities, name="cifar10_airbench")
    # `train` fits the trunk with its own optimizers; this compilation serves
    # model.evaluate and any plain model.fit.
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.85, nesterov=True),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.2),
                  metrics=["accuracy"])
    ### END SOLUTION
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
    ### BEGIN SOLUTION
    # airbench's recipe (see build_model), its hyperparameters rescaled from PyTorch to
    # Keras: a loss averaged over the batch instead of summed, and decoupled weight decay.
    # Two learning rates and a partly frozen layer need a training loop of our own, with
    # TensorFlow's GradientTape.
    import tensorflow as tf

    epochs = 12
    batch_size = 1024
    learning_rate = 1.5  # peak, for the filters, the head and the whitening bias
    bias_learning_rate = 64 * learning_rate  # batch-norm biases: not scale-invariant
    momentum = 0.85
    decay_per_step = 0.0133  # fraction of every weight removed per step at the peak rate
    label_smoothing = 0.2
    # Triangular schedule: from 0.2 to 1 of the peak over the first 23% of the steps, then
    # down to 0.07 at the end.
    schedule_points, schedule_rates = (0.0, 0.23, 1.0), (0.2, 1.0, 0.07)
    whiten_bias_epochs = 3  # then the whitening layer is frozen entirely
    whiten_images, whiten_eps = 5000, 5e-4
    translate = 2  # random translation in pixels, with reflection at the borders
    lookahead_every = 5  # steps between two updates of the weight average

    trunk = model.get_layer("trunk")
    whiten = trunk.get_layer("whiten")
    images = np.asarray(x)
    if images.dtype != np.uint8:
        images = images.astype(np.float32)
    labels = keras.utils.to_categorical(np.asarray(y).reshape(-1), NUM_CLASSES)
    n, height, width = images.shape[:3]
    rng = np.random.default_rng(seed)

    # Whitening: the eigenvectors of the covariance of the normalised 2x2 patches, each
    # scaled by 1/sqrt(eigenvalue), and their negatives (for the GELU that follows).
    normalized = keras.ops.convert_to_numpy(
        trunk.get_layer("normalize")(images[:whiten_images].astype(np.float32)))
    patches = np.lib.stride_tricks.sliding_window_view(normalized, (2, 2), axis=(1, 2))
    patches = patches.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 2 * 2 * 3)  # (kh, kw, C) order
    covariance = patches.T.astype(np.float64) @ patches / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    filters = eigenvectors / np.sqrt(eigenvalues + whiten_eps)  # one filter per column
    kernel = np.concatenate([filters, -filters], axis=1).reshape(2, 2, 3, -1)
    whiten.set_weights([kernel.astype(np.float32), np.zeros(kernel.shape[-1], np.float32)])

    # Two learning rates need two optimizers; each removes decay_per_step of its weights per
    # step at its peak rate (Keras' decay is multiplied by the learning rate).
    norm_biases = [layer.beta for layer in trunk.layers
                   if isinstance(layer, keras.layers.BatchNormalization)]
    others = [v for v in trunk.trainable_variables
              if all(v is not b for b in norm_biases) and v is not whiten.kernel]
    groups = [
        (keras.optimizers.SGD(momentum=momentum, nesterov=True,
                              weight_decay=decay_per_step / peak), variables, peak)
        for variables, peak in ((norm_biases, bias_learning_rate), (others, learning_rate))
    ]
    for optimizer, variables, _ in groups:
        optimizer.build(variables)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True,
                                                   label_smoothing=label_smoothing)

    def make_step(train_whiten_bias):
        """A compiled training step: (images, one-hot labels, rate) -> (loss, hits)."""
        updated = [(opt, [v for v in variables if train_whiten_bias or v is not whiten.bias],
                    peak) for opt, variables, peak in groups]
        every = [v for _, variables, _ in updated for v in variables]

        @tf.function(reduce_retracing=True)
        def step(batch_images, batch_labels, rate):
            with tf.GradientTape() as tape:
                logits = trunk(tf.cast(batch_images, tf.float32), training=True)
                loss = loss_fn(batch_labels, logits)
            gradients = tape.gradient(loss, every)
            for optimizer, variables, peak in updated:
                optimizer.learning_rate = rate * peak
                optimizer.apply(gradients[:len(variables)], variables)
                gradients = gradients[len(variables):]
            hits = tf.reduce_sum(tf.cast(
                tf.argmax(logits, axis=-1) == tf.argmax(batch_labels, axis=-1), tf.int32))
            return loss, hits

        return step

    # Lookahead: every few steps, move an average of the weights (batch-norm statistics
    # included) towards the weights and restart from the average; the average's memory
    # grows from 0 to 0.95**5 along the run, like airbench's.
    state = [v for v in trunk.weights if "float" in str(v.dtype)]
    average = [tf.Variable(keras.ops.convert_to_numpy(v)) for v in state]

    @tf.function
    def lookahead(decay):
        for a, v in zip(average, state, strict=True):
            a.assign(decay * a + (1 - decay) * v)
            v.assign(a)

    steps_per_epoch = -(-n // batch_size)
    total_steps = epochs * steps_per_epoch
    rates = np.interp(np.arange(total_steps) / total_steps, schedule_points, schedule_rates)
    decays = 0.95**lookahead_every * (np.arange(1, total_steps + 1) / total_steps) ** 3
    padded = np.pad(images, ((0, 0), (translate,) * 2, (translate,) * 2, (0, 0)),
                    mode="reflect")  # (N, H + 4, W + 4, C)
    # Alternating flip: a random half of the images is mirrored in even epochs and the other
    # half in odd epochs, so that every pair of epochs shows each image both ways.
    flip_even = rng.random(n) < 0.5
    steps = {True: make_step(True), False: make_step(False)}

    history = keras.callbacks.History()
    history.set_model(model)
    history.on_train_begin()
    model.stop_training = False  # epoch_end may set it, as a Keras callback may in fit
    done = 0  # counted here: reading optimizer.iterations would wait for TensorFlow
    for epoch in range(epochs):
        shifts = rng.integers(0, 2 * translate + 1, size=(2, n))
        epoch_images = np.empty_like(images)
        for dy in range(2 * translate + 1):
            for dx in range(2 * translate + 1):
                chosen = np.flatnonzero((shifts[0] == dy) & (shifts[1] == dx))
                epoch_images[chosen] = padded[chosen, dy:dy + height, dx:dx + width]
        mirrored = np.flatnonzero(flip_even ^ (epoch % 2 == 1))
        epoch_images[mirrored] = epoch_images[mirrored, :, ::-1]

        step = steps[epoch < whiten_bias_epochs]
        order = rng.permutation(n)
        total_loss, total_hits = 0.0, 0
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            loss, hits = step(epoch_images[batch], labels[batch],
                              tf.constant(rates[done], tf.float32))
            total_loss += float(loss) * len(batch)
            total_hits += int(hits)
            done += 1
            if done % lookahead_every == 0:
                lookahead(tf.constant(decays[done - 1], tf.float32))
        if epoch == epochs - 1:
            lookahead(tf.constant(1.0))  # end on the average
        history.on_epoch_end(epoch, {"loss": total_loss / n, "accuracy": total_hits / n})
        if epoch_end is not None:
            epoch_end(epoch, model)
        if model.stop_training:
            break
    ### END SOLUTION
    return history
