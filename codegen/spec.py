"""One firmware to build, as one value: the model's shape and preprocessing, the chip, the
firmware mode, the kernel and the number of self-test images it embeds. What cannot be built
at all is refused here, once: stream mode folds pixels into layer 0 as they arrive, so it
cannot deskew."""

from __future__ import annotations

from dataclasses import dataclass, replace

from digit51.codegen import graph_plan
from digit51.firmware.chips.target import Target
from digit51.trainer.errors import Digit51Error
from digit51.trainer.preprocess import arch_name

STREAM_DESKEW = ("stream mode folds each pixel into layer 0 as it arrives, but deskew needs the whole image "
                 "first: build a model trained with --no-deskew for this chip, or use a chip with XRAM for the image")


@dataclass(frozen=True)
class BuildSpec:
    sizes: tuple[int, ...]
    pool: int
    deskew: bool
    target: Target
    mode: str = "serve"
    kernel: str | None = None  # None: the fastest the chip and the mode allow (builder/fit.py resolve)
    n_images: int = 0  # self-test images built in
    graph: str = ""  # the layer graph the firmware runs (graph_plan.deployed_graph), "" for a 28x28 MLP
    input_shape: tuple[int, int] = (28, 28)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        if self.deskew and self.mode == "stream":
            raise Digit51Error(STREAM_DESKEW)
        if self.graph and self.mode == "stream":
            raise Digit51Error(f"stream mode folds pixels into the first layer of an MLP on 28x28 images, not {self.name} on "
                               f"{self.input_shape[0]}x{self.input_shape[1]}: use --mode serve on a chip with XRAM")
        if self.deskew and self.input_shape[0] != self.input_shape[1]:
            raise Digit51Error(f"the firmware deskews square images only, not {self.input_shape[0]}x{self.input_shape[1]}: "
                               "train with --no-deskew")

    @classmethod
    def of(cls, model, target: Target, mode: str = "serve", kernel: str | None = None, n_images: int = 0) -> "BuildSpec":
        return cls(tuple(model.sizes), model.pool, model.deskew, target, mode, kernel, n_images,
                   graph_plan.deployed_graph(model), tuple(model.input_shape))

    @property
    def image_bytes(self) -> int:
        return self.input_shape[0] * self.input_shape[1]

    @property
    def name(self) -> str:
        return self.graph or arch_name(self.sizes)

    def but(self, **changes) -> "BuildSpec":
        return replace(self, **changes)
