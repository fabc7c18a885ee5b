# Copyright 2026 Runespoor maintainers. Licensed under the Apache License, Version 2.0.
"""
The cloud's GPU fast path, each part behind a setting, on by default on CUDA only.

* ``precision``: ``auto`` (fp16 on CUDA, fp32 on CPU) | ``fp32`` | ``fp16`` | ``bf16`` -- the
  SR and segmentation networks run in that dtype (weights cast once, input cast per call,
  output back to float32, so everything after them is unchanged);
* ``channels_last``: NHWC memory format for the convolutions (CUDA; ``auto`` = on there);
* ``graphs``: ``auto`` (``cudagraph`` on CUDA, ``off`` on CPU) | ``off`` | ``cudagraph`` |
  ``compile`` -- CUDA graphs are captured per input shape *at warm-up* (:meth:`FastModule.
  capture`, called by :func:`warm_up`), replayed afterwards; a shape not captured runs eager,
  so the first frame of an unexpected size is correct, only slower; ``compile`` is
  ``torch.compile`` triggered at warm-up the same way;
* ``gpu_decode``: ``torchvision.io.decode_jpeg(device='cuda')`` (nvJPEG) when available, else
  the CPU decoder (:func:`decode_jpeg_tensor`); the header checks of ``CloudPipeline.admit``
  still run first, so nothing is decoded before its size is known to be acceptable;
* ``pin_memory``: page-locked host buffers for host -> device copies (non-blocking).

``fp32`` with ``channels_last`` and ``graphs`` off wraps nothing: the outputs are bit-identical
to the plain pipeline (tests compare).  No ROS here.
"""

from dataclasses import dataclass

import numpy as np

from runespoor.device import cuda_available

PRECISIONS = ('auto', 'fp32', 'fp16', 'bf16')
GRAPH_MODES = ('auto', 'off', 'cudagraph', 'compile')
SWITCHES = ('auto', 'on', 'off')


@dataclass(frozen=True)
class FastPath:
    """Resolved fast-path settings (see the module doc); build with :func:`resolve`."""

    device: str = 'cpu'
    precision: str = 'fp32'
    channels_last: bool = False
    graphs: str = 'off'
    gpu_decode: bool = False
    pin_memory: bool = False

    @property
    def dtype(self):
        """Return the torch dtype of :attr:`precision`."""
        import torch
        return {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}[
            self.precision]

    @property
    def wraps(self):
        """Return True if the models need a :class:`FastModule` (anything but plain fp32)."""
        return self.precision != 'fp32' or self.channels_last or self.graphs != 'off'


def _switch(value, name, cuda):
    value = str(value).lower()
    if value not in SWITCHES:
        raise ValueError(f'{name} {value!r}: auto | on | off')
    return cuda if value == 'auto' else value == 'on'


def resolve(device, precision='auto', channels_last='auto', graphs='auto', gpu_decode='auto',
            pin_memory='auto'):
    """Return the :class:`FastPath` for ``device`` (``cpu`` / ``cuda``); ValueError on typos."""
    cuda = str(device).startswith('cuda')
    if precision not in PRECISIONS:
        raise ValueError(f'precision {precision!r}: {" | ".join(PRECISIONS)}')
    if graphs not in GRAPH_MODES:
        raise ValueError(f'graphs {graphs!r}: {" | ".join(GRAPH_MODES)}')
    if graphs == 'cudagraph' and not cuda:
        raise ValueError('graphs cudagraph needs device cuda')
    return FastPath(
        device='cuda' if cuda else 'cpu',
        precision=('fp16' if cuda else 'fp32') if precision == 'auto' else precision,
        channels_last=_switch(channels_last, 'channels_last', cuda),
        graphs=('cudagraph' if cuda else 'off') if graphs == 'auto' else graphs,
        gpu_decode=_switch(gpu_decode, 'gpu_decode', cuda) and cuda and gpu_decode_available(),
        pin_memory=_switch(pin_memory, 'pin_memory', cuda) and cuda)


def gpu_decode_available():
    """Return True if torchvision's nvJPEG decoder and a CUDA device are there."""
    try:
        from torchvision.io import decode_jpeg  # noqa: F401
    except ImportError:
        return False
    return cuda_available()


def _torch_module():
    import torch
    return torch.nn.Module


class FastModule(_torch_module()):
    """
    A network in the fast-path dtype / memory format, optionally replayed as CUDA graphs.

    ``forward(x)`` takes and returns float32 (``B x C x H x W``); the wrapped model sees
    ``fast.dtype`` (and channels-last).  :meth:`capture` records a CUDA graph (or triggers
    compilation) for one input shape; later calls of that shape replay it and return a copy
    of the static output, so results of successive frames never alias.
    """

    def __init__(self, model, fast):
        super().__init__()
        import torch
        self.fast = fast
        fmt = torch.channels_last if fast.channels_last else torch.contiguous_format
        self.model = model.to(dtype=fast.dtype, memory_format=fmt).eval()
        self._graphs = {}            # shape -> (graph, static input, static output)
        self._compiled = None
        if fast.graphs == 'compile':
            self._compiled = torch.compile(self.model, dynamic=False)
        self.num_classes = getattr(model, 'num_classes', None)
        self.scale = getattr(model, 'scale', None)

    def _prep(self, x):
        import torch
        x = x.to(dtype=self.fast.dtype)
        if self.fast.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _eager(self, x):
        run = self._compiled or self.model
        return run(self._prep(x)).float()

    def forward(self, x):
        """Run the network on float32 ``x``; return float32."""
        import torch
        entry = self._graphs.get(tuple(x.shape))
        if entry is None:
            return self._eager(x)
        graph, static_in, static_out = entry
        static_in.copy_(self._prep(x))
        graph.replay()
        # a new tensor each call: the next replay overwrites the static output
        return static_out.clone() if static_out.dtype == torch.float32 else static_out.float()

    def capture(self, shape):
        """Prepare ``shape`` (CUDA graph captured / compiled); return True if a graph exists."""
        import torch
        shape = tuple(int(s) for s in shape)
        example = torch.rand(shape, device=next(self.model.parameters()).device)
        with torch.no_grad():
            if self.fast.graphs != 'cudagraph':
                self._eager(example)          # compile / first-call cost paid here
                return False
            if shape in self._graphs:
                return True
            static_in = self._prep(example).clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):            # cuDNN autotuning before capture
                    self.model(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.model(static_in)
            self._graphs[shape] = (graph, static_in, static_out)
        return True


def apply(reconstructor, analytics, fast):
    """
    Put the pipeline's networks on the fast path; return the number of networks wrapped.

    ``reconstructor`` is a :class:`runespoor.cloud_pipeline.TorchReconstructor` (its SR models
    per scale) or anything else (left alone); ``analytics`` a Segmenter / DetectorAnalytics
    whose ``model`` is wrapped.  A task whose network returns one tensor
    (:attr:`runespoor.tasks.Task.tensor_output`, segmentation) gets the whole fast path; any
    other (detection: a list of dicts; a plug-in task unless it says otherwise) only the
    precision.  ``fp32`` without the other parts wraps nothing.
    """
    if not fast.wraps:
        return 0
    n = 0
    impl = getattr(reconstructor, 'impl', None)
    if impl is not None:
        for scale, model in list(impl._models.items()):
            if not isinstance(model, FastModule):
                impl._models[scale] = FastModule(model, fast)
                n += 1
    model = getattr(analytics, 'model', None)
    if model is not None and not isinstance(model, FastModule):
        if not _tensor_output(analytics):
            import dataclasses
            model_fast = dataclasses.replace(fast, graphs='off', channels_last=False)
            analytics.model = _DetectorCast(model, model_fast)
        else:
            analytics.model = FastModule(model, fast)
        n += 1
    return n


def _tensor_output(analytics):
    """Return True if the analytics' task says its network returns one tensor."""
    from .tasks import get_task, TaskError
    try:
        return bool(get_task(getattr(analytics, 'task', None) or 'segmentation').tensor_output)
    except TaskError:
        return False


class _DetectorCast(_torch_module()):
    """Detection network in the fast-path dtype (list-of-dict output, no graph capture)."""

    def __init__(self, model, fast):
        super().__init__()
        self.model = model.to(dtype=fast.dtype).eval()
        self.fast = fast
        self.num_classes = getattr(model, 'num_classes', None)

    def forward(self, x):
        """Run the detector in the fast-path dtype; boxes and scores come back as they are."""
        return self.model(x.to(self.fast.dtype))


def warm_up(reconstructor, analytics, fast, scales, size, batch_sizes=(1,)):
    """
    Capture graphs / compile for ``size = (H, W)`` at ``scales`` and ``batch_sizes``.

    Called by the node before "cloud ready" (with the frame size the robots stream,
    ``warm_up_width`` x ``warm_up_height``), so the first real frame replays a graph instead
    of paying for capture.  Returns the number of shapes prepared.
    """
    from . import codec
    h, w = int(size[0]), int(size[1])
    n = 0
    impl = getattr(reconstructor, 'impl', None)
    for b in batch_sizes:
        if impl is not None:
            for scale in scales:
                model = impl._models.get(int(scale))
                if isinstance(model, FastModule):
                    lw, lh = codec.scaled_size(w, h, scale)
                    model.capture((b, 3, lh, lw))
                    n += 1
        if isinstance(getattr(analytics, 'model', None), FastModule):
            analytics.model.capture((b, 3, h, w))
            n += 1
    return n


def decode_jpeg_tensor(data, fast):
    """
    Decode JPEG bytes to a ``1 x 3 x h x w`` float RGB [0, 1] tensor on ``fast.device``.

    nvJPEG when ``fast.gpu_decode``, else OpenCV on the CPU (then a pinned, non-blocking
    copy when ``fast.pin_memory``).  Call it only on frames whose header was checked.
    """
    import torch
    if fast.gpu_decode:
        from torchvision.io import decode_jpeg
        raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        img = decode_jpeg(raw, device='cuda')              # 3 x h x w uint8 RGB
        return img.unsqueeze(0).float().div_(255.0)
    import cv2
    from runespoor.tensors import bgr_to_uint8_tensor
    t = bgr_to_uint8_tensor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    if fast.pin_memory:
        t = t.contiguous().pin_memory()
    return t.to(fast.device, non_blocking=fast.pin_memory).float().div_(255.0)
