"""Kernel convolution in NumPy: the forward pass of a convolutional layer from first principles.

Shapes are channels-last, like Keras. The letters used in every docstring:

    N               batch size (number of images)
    H, W            input height and width
    C_in            input channels (1 for grayscale, 3 for RGB)
    C_out           output channels (the number of filters)
    kh, kw          kernel (or pooling window) height and width
    H_out, W_out    output height and width

Conventions shared by every function:

- Inputs are never modified: every function returns a new array.
- Results keep the floating dtype NumPy's promotion gives: a float32 image with a float32
  kernel gives float32, a float64 operand gives float64. Integer inputs are computed in float64.
- `stride` is an int (the same step along both axes) or a pair `(stride_h, stride_w)`: the
  window moves `stride` pixels between two outputs.
- `padding="valid"` uses only positions where the window lies fully inside the input.
  `padding="same"` pads with zeros exactly like TensorFlow/Keras so that
  `H_out = ceil(H / stride_h)`: along each axis `pad_total = max((out - 1) * stride + k - size, 0)`,
  `pad_before = pad_total // 2` and the rest, `pad_total - pad_before`, goes after (so an odd
  `pad_total` puts the extra zero at the bottom or right, never at the top or left).
- Bad arguments raise `ValueError` with a message that names the argument and the shapes.

Only NumPy may be imported here: TensorFlow, Keras, SciPy and PyTorch are what the grader
compares your results against.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view  # noqa: F401 (yours to use)

__all__ = [
    "avg_pool2d",
    "box_blur",
    "conv2d",
    "convolve2d",
    "correlate2d",
    "edge_magnitude",
    "max_pool2d",
    "output_size",
    "relu",
    "sharpen",
    "sobel",
]

PADDINGS = ("valid", "same")


# ---------------------------------------------------------------------------------------------
# Argument checks (given: you do not need to change them)
# ---------------------------------------------------------------------------------------------

def _array(value: object, name: str, ndim: int, layout: str) -> np.ndarray:
    """`value` as an array of rank `ndim` with no empty axis, or a ValueError naming it."""
    array = np.asarray(value)
    if array.ndim != ndim or array.size == 0:
        raise ValueError(f"{name} must be a non-empty {ndim}-D array {layout}, "
                         f"got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    return array


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _pair(value: object, name: str) -> tuple[int, int]:
    """An int or a pair of ints, each >= 1, as a pair `(along H, along W)`."""
    if isinstance(value, tuple | list) and len(value) == 2:
        return _positive_int(value[0], name), _positive_int(value[1], name)
    if isinstance(value, tuple | list):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    size = _positive_int(value, name)
    return size, size


def _padding(padding: object) -> str:
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def _fits(window: tuple[int, int], name: str, shape: tuple[int, ...], what: str) -> None:
    """A valid (unpadded) window must fit inside the (H, W) axes of `shape`."""
    height, width = (shape[0], shape[1]) if len(shape) == 2 else (shape[1], shape[2])
    if window[0] > height or window[1] > width:
        raise ValueError(f"{name} {window} is larger than {what} of shape {shape} "
                         f"(height {height}, width {width}) with valid padding")


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    """NumPy's promoted dtype of `arrays`, float64 when that would be an integer type."""
    dtype = np.result_type(*arrays)
    return dtype if np.issubdtype(dtype, np.inexact) else np.dtype(np.float64)


# ---------------------------------------------------------------------------------------------
# 2-D cross-correlation and convolution of one image
# ---------------------------------------------------------------------------------------------

def correlate2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid 2-D cross-correlation of one image with one kernel, stride 1.

    out[i, j] = sum over (u, v) of image[i + u, j + v] * kernel[u, v]: the kernel slides over
    the image without being flipped (what deep-learning libraries call "convolution").

    Inputs:
    - image: (H, W) array of numbers, not modified.
    - kernel: (kh, kw) array of numbers with kh <= H and kw <= W, not modified.

    Returns:
    - out: (H - kh + 1, W - kw + 1) array, the promoted floating dtype of image and kernel
      (float32 for float32 inputs).
    """
    image = _array(image, "image", 2, "(H, W)")
    kernel = _array(kernel, "kernel", 2, "(kh, kw)")
    _fits(kernel.shape, "kernel", image.shape, "the image")
    dtype = _float_dtype(image, kernel)
    image, kernel = image.astype(dtype, copy=False), kernel.astype(dtype, copy=False)
    out = None
    # TODO: compute every output pixel out[i, j] = sum(image[i:i+kh, j:j+kw] * kernel) without
    # a Python loop over pixels. Hint: sliding_window_view(image, kernel.shape) is a view of
    # shape (H_out, W_out, kh, kw) holding every window; contract its last two axes with the
    # kernel (np.tensordot or np.einsum).
    ### BEGIN SOLUTION
    windows = sliding_window_view(image, kernel.shape)  # (H_out, W_out, kh, kw)
    out = np.tensordot(windows, kernel, axes=2)
    ### END SOLUTION
    return out


def convolve2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid 2-D convolution (the kernel flipped in both axes), stride 1.

    out[i, j] = sum over (u, v) of image[i + u, j + v] * kernel[kh - 1 - u, kw - 1 - v], the
    same as `scipy.signal.convolve2d(image, kernel, mode="valid")`.

    Inputs:
    - image: (H, W) array of numbers, not modified.
    - kernel: (kh, kw) array of numbers with kh <= H and kw <= W, not modified.

    Returns:
    - out: (H - kh + 1, W - kw + 1) array, the promoted floating dtype of image and kernel.
    """
    image = _array(image, "image", 2, "(H, W)")
    kernel = _array(kernel, "kernel", 2, "(kh, kw)")
    _fits(kernel.shape, "kernel", image.shape, "the image")
    out = None
    # TODO: a true convolution is a cross-correlation with the kernel rotated by 180 degrees.
    # Hint: reuse correlate2d; slicing with [::-1] reverses an axis.
    ### BEGIN SOLUTION
    out = correlate2d(image, kernel[::-1, ::-1])
    ### END SOLUTION
    return out


def output_size(size: int, kernel_size: int, stride: int = 1, padding: str = "valid") -> int:
    """Output length along one spatial axis, exactly as TensorFlow/Keras compute it.

    Inputs:
    - size: input length along the axis (H or W), an int >= 1.
    - kernel_size: window length along the axis (kh or kw), an int >= 1; with "valid" padding
      it must be <= size.
    - stride: step between two windows, an int >= 1.
    - padding: "valid" (windows fully inside the input) or "same" (TensorFlow's zero padding,
      see the module docstring).

    Returns:
    - length: an int, floor((size - kernel_size) / stride) + 1 for "valid" and
      ceil(size / stride) for "same".
    """
    size = _positive_int(size, "size")
    kernel_size = _positive_int(kernel_size, "kernel_size")
    stride = _positive_int(stride, "stride")
    padding = _padding(padding)
    if padding == "valid" and kernel_size > size:
        raise ValueError(f"kernel_size {kernel_size} is larger than size {size} "
                         "with valid padding")
    length = None
    # TODO: count the window positions 0, stride, 2 * stride, ... that fit. With "same"
    # padding the answer does not depend on kernel_size. Use integer arithmetic (// rounds
    # down; -(-a // b) rounds up).
    ### BEGIN SOLUTION
    if padding == "valid":
        length = (size - kernel_size) // stride + 1
    else:
        length = -(-size // stride)
    ### END SOLUTION
    return length


# ---------------------------------------------------------------------------------------------
# A convolutional layer's forward pass, pooling and the activation
# ---------------------------------------------------------------------------------------------

def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None,
           stride: int | tuple[int, int] = 1, padding: str = "valid") -> np.ndarray:
    """Forward pass of a 2-D convolutional layer on a batch, like `keras.layers.Conv2D`.

    out[n, i, j, c] = bias[c] + sum over (u, v, d) of
                      x_padded[n, i * stride_h + u, j * stride_w + v, d] * kernel[u, v, d, c]
    (a cross-correlation, as in every deep-learning library: the kernel is not flipped).

    Inputs:
    - x: (N, H, W, C_in) array of numbers, not modified.
    - kernel: (kh, kw, C_in, C_out) array, the Keras layout (layer.kernel), not modified.
    - bias: (C_out,) array added to every output pixel of each channel, or None for no bias.
    - stride: int or pair (stride_h, stride_w), each >= 1.
    - padding: "valid" (no padding; kh <= H and kw <= W) or "same" (TensorFlow's zero
      padding: H_out = ceil(H / stride_h), the extra row/column of an odd padding goes to the
      bottom/right).

    Returns:
    - out: (N, H_out, W_out, C_out) array, the promoted floating dtype of x, kernel and bias
      (float32 for float32 inputs), equal to Keras' Conv2D with the same weights.
    """
    x = _array(x, "x", 4, "(N, H, W, C_in)")
    kernel = _array(kernel, "kernel", 4, "(kh, kw, C_in, C_out)")
    if kernel.shape[2] != x.shape[3]:
        raise ValueError(f"kernel {kernel.shape} expects C_in={kernel.shape[2]} input channels "
                         f"but x {x.shape} has {x.shape[3]}")
    operands = [x, kernel]
    if bias is not None:
        bias = _array(bias, "bias", 1, "(C_out,)")
        if bias.shape[0] != kernel.shape[3]:
            raise ValueError(f"bias {bias.shape} must have one value per output channel: "
                             f"kernel {kernel.shape} has C_out={kernel.shape[3]}")
        operands.append(bias)
    stride_h, stride_w = _pair(stride, "stride")
    padding = _padding(padding)
    if padding == "valid":
        _fits(kernel.shape[:2], "kernel", x.shape, "x")
    dtype = _float_dtype(*operands)
    x, kernel = x.astype(dtype, copy=False), kernel.astype(dtype, copy=False)
    if bias is not None:
        bias = bias.astype(dtype, copy=False)
    N, H, W, C_in = x.shape
    kh, kw, _, C_out = kernel.shape
    out = None
    # TODO: the forward pass in five steps, with no Python loop over images or pixels.
    # 1. H_out and W_out from output_size.
    # 2. For "same", zero-pad the H and W axes of x (np.pad). Along H:
    #    pad_total = max((H_out - 1) * stride_h + kh - H, 0), pad_total // 2 zeros before and
    #    the rest after; the same along W.
    # 3. Gather every window (im2col): sliding_window_view(x, (kh, kw), axis=(1, 2)), stepped
    #    with [:, ::stride_h, ::stride_w], has shape (N, H_out, W_out, C_in, kh, kw).
    # 4. One matrix product: the windows as rows (N * H_out * W_out, kh * kw * C_in) times the
    #    kernel as (kh * kw * C_in, C_out); both must list (u, v, d) in the same order
    #    (transpose the windows' last three axes to (kh, kw, C_in) before reshaping).
    # 5. Reshape to (N, H_out, W_out, C_out) and add the bias when there is one.
    ### BEGIN SOLUTION
    H_out = output_size(H, kh, stride_h, padding)
    W_out = output_size(W, kw, stride_w, padding)
    if padding == "same":
        pad_h = max((H_out - 1) * stride_h + kh - H, 0)
        pad_w = max((W_out - 1) * stride_w + kw - W, 0)
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                       (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride_h, ::stride_w]
    windows = windows.transpose(0, 1, 2, 4, 5, 3)  # (N, H_out, W_out, kh, kw, C_in), a view
    weights = kernel.reshape(kh * kw * C_in, C_out)
    out = np.empty((N, H_out, W_out, C_out), dtype)
    # Cache blocking: the window matrix of the whole batch is tens of megabytes and would go
    # through main memory twice (copied, then read by the product). Copying it a few images
    # at a time into one buffer of about 2 MiB keeps it in the CPU cache between the copy
    # and the product: about 20% faster than one product over the whole batch on the
    # 16-channel case of benchmarks/bench_conv.py. Small inputs are a single block.
    block_bytes = H_out * W_out * kh * kw * C_in * dtype.itemsize
    images_per_block = max(1, min(N, 2 * 1024 * 1024 // block_bytes))
    columns = np.empty((images_per_block, H_out, W_out, kh, kw, C_in), dtype)
    for start in range(0, N, images_per_block):
        count = min(images_per_block, N - start)
        columns[:count] = windows[start:start + count]
        np.matmul(columns[:count].reshape(-1, kh * kw * C_in), weights,
                  out=out[start:start + count].reshape(-1, C_out))
    if bias is not None:
        out += bias
    ### END SOLUTION
    return out


def max_pool2d(x: np.ndarray, pool_size: int | tuple[int, int] = 2,
               stride: int | tuple[int, int] | None = None) -> np.ndarray:
    """Max pooling with valid padding, like `keras.layers.MaxPooling2D`.

    out[n, i, j, c] = max over (u, v) of x[n, i * stride_h + u, j * stride_w + v, c]

    Inputs:
    - x: (N, H, W, C) array of numbers, not modified.
    - pool_size: int or pair (ph, pw), the window, with ph <= H and pw <= W.
    - stride: int or pair (stride_h, stride_w), each >= 1, or None for stride = pool_size
      (windows side by side, no overlap).

    Returns:
    - out: (N, H_out, W_out, C) array of x's dtype, H_out = (H - ph) // stride_h + 1 and
      W_out = (W - pw) // stride_w + 1 (leftover rows and columns are dropped).
    """
    x = _array(x, "x", 4, "(N, H, W, C)")
    ph, pw = _pair(pool_size, "pool_size")
    stride_h, stride_w = (ph, pw) if stride is None else _pair(stride, "stride")
    _fits((ph, pw), "pool_size", x.shape, "x")
    out = None
    # TODO: take the maximum of every (ph, pw) window of every channel separately.
    # Hint: sliding_window_view(x, (ph, pw), axis=(1, 2)), stepped by the stride, then a max
    # over the two window axes.
    ### BEGIN SOLUTION
    windows = sliding_window_view(x, (ph, pw), axis=(1, 2))[:, ::stride_h, ::stride_w]
    out = windows.max(axis=(4, 5))
    ### END SOLUTION
    return out


def avg_pool2d(x: np.ndarray, pool_size: int | tuple[int, int] = 2,
               stride: int | tuple[int, int] | None = None) -> np.ndarray:
    """Average pooling with valid padding, like `keras.layers.AveragePooling2D`.

    out[n, i, j, c] = mean over (u, v) of x[n, i * stride_h + u, j * stride_w + v, c]

    Inputs:
    - x: (N, H, W, C) array of numbers, not modified.
    - pool_size: int or pair (ph, pw), the window, with ph <= H and pw <= W.
    - stride: int or pair (stride_h, stride_w), each >= 1, or None for stride = pool_size.

    Returns:
    - out: (N, H_out, W_out, C) array, x's floating dtype (float64 for integer x), with
      H_out = (H - ph) // stride_h + 1 and W_out = (W - pw) // stride_w + 1.
    """
    x = _array(x, "x", 4, "(N, H, W, C)")
    ph, pw = _pair(pool_size, "pool_size")
    stride_h, stride_w = (ph, pw) if stride is None else _pair(stride, "stride")
    _fits((ph, pw), "pool_size", x.shape, "x")
    x = x.astype(_float_dtype(x), copy=False)
    out = None
    # TODO: the same windows as max_pool2d, averaged instead of maximised.
    ### BEGIN SOLUTION
    windows = sliding_window_view(x, (ph, pw), axis=(1, 2))[:, ::stride_h, ::stride_w]
    out = windows.mean(axis=(4, 5))
    ### END SOLUTION
    return out


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit, elementwise: max(x, 0).

    Inputs:
    - x: array of any shape, not modified.

    Returns:
    - out: array of x's shape and dtype, negative values replaced by 0.
    """
    x = np.asarray(x)
    out = None
    # TODO: one NumPy call; do not write into x (no out=x, no x[x < 0] = 0).
    ### BEGIN SOLUTION
    out = np.maximum(x, 0)
    ### END SOLUTION
    return out


# ---------------------------------------------------------------------------------------------
# Classic image kernels, meant for correlate2d
# ---------------------------------------------------------------------------------------------

def box_blur(size: int = 3) -> np.ndarray:
    """Box blur kernel: the mean of a size x size neighbourhood.

    Inputs:
    - size: an int >= 1.

    Returns:
    - kernel: (size, size) float64 array, every value 1 / size**2 (the values sum to 1, so a
      constant image stays constant).
    """
    size = _positive_int(size, "size")
    kernel = None
    # TODO: a (size, size) float64 array filled with 1 / size**2 (np.full).
    ### BEGIN SOLUTION
    kernel = np.full((size, size), 1.0 / size**2)
    ### END SOLUTION
    return kernel


def sharpen() -> np.ndarray:
    """Sharpen kernel: the pixel plus its difference from its four neighbours.

    Returns:
    - kernel: (3, 3) float64 array [[0, -1, 0], [-1, 5, -1], [0, -1, 0]] (sums to 1).
    """
    kernel = None
    # TODO: write the 3 x 3 array above as float64.
    ### BEGIN SOLUTION
    kernel = np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])
    ### END SOLUTION
    return kernel


def sobel() -> tuple[np.ndarray, np.ndarray]:
    """Sobel kernels for correlate2d (the OpenCV / scikit-image convention).

    Returns a tuple (gx, gy):
    - gx: (3, 3) float64 array [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], positive where the image
      gets brighter from left to right (a vertical edge).
    - gy: (3, 3) float64 array, gx transposed, positive where the image gets brighter from top
      to bottom (a horizontal edge).
    """
    gx = gy = None
    # TODO: write gx as float64; gy is its transpose (return independent arrays: copy it).
    ### BEGIN SOLUTION
    gx = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    gy = gx.T.copy()
    ### END SOLUTION
    return gx, gy


def edge_magnitude(image: np.ndarray) -> np.ndarray:
    """Gradient magnitude sqrt(gx**2 + gy**2) of the valid Sobel correlations of an image.

    Inputs:
    - image: (H, W) array of numbers with H >= 3 and W >= 3, not modified.

    Returns:
    - out: (H - 2, W - 2) array, image's floating dtype (float32 for float32 images, float64
      for integer images), >= 0 everywhere, 0 on flat regions.
    """
    image = _array(image, "image", 2, "(H, W)")
    _fits((3, 3), "the Sobel kernel", image.shape, "the image")
    image = image.astype(_float_dtype(image), copy=False)
    out = None
    # TODO: correlate the image with both Sobel kernels (cast them to image.dtype so a float32
    # image gives a float32 result) and combine the two gradients (np.hypot).
    ### BEGIN SOLUTION
    gx, gy = (k.astype(image.dtype) for k in sobel())
    out = np.hypot(correlate2d(image, gx), correlate2d(image, gy))
    ### END SOLUTION
    return out
