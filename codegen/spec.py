"""One firmware to build, as one value: the model's shape and preprocessing, the chip, the
firmware mode, the kernel and the number of self-test images it embeds. What cannot be built
at all is refused here, once: stream mode folds pixels into layer 0 as they arrive, so it
cannot deskew."""

from __future__ import annotations

from dataclasses import dataclass, replace

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

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        if self.deskew and self.mode == "stream":
            raise Digit51Error(STREAM_DESKEW)

    @classmethod
    def of(cls, model, target: Target, mode: str = "serve", kernel: str | None = None, n_images: int = 0) -> "BuildSpec":
        return cls(tuple(model.sizes), model.pool, model.deskew, target, mode, kernel, n_images)

    @property
    def name(self) -> str:
        return arch_name(self.sizes)

    def but(self, **changes) -> "BuildSpec":
        return replace(self, **changes)
