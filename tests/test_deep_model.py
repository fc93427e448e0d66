"""A model of 300 layers (issue 19 item 10): its `ready` line would pass the host's 512-byte
line cap with every width in it, so the firmware names it first-<n>hidden-last, and the line
arrives whole from the real firmware in s51; the answer is the simulator's."""

import numpy as np
import pytest

from digit51.codegen.spec import BuildSpec
from digit51.codegen.render import MAX_MODEL_NAME, model_name
from digit51.firmware import protocol
from digit51.firmware.host import run
from digit51.firmware.chips import targets
from digit51.firmware.builder.sdcc import build
from digit51.firmware.host.session import Session
from digit51.firmware.sim.ucsim import Ucsim
from digit51.quantize import simulate
from digit51.quantize.model_file import IntModel

GENERIC = targets.get("generic-8052")


def deep_model(n_hidden: int) -> IntModel:
    rng = np.random.default_rng(3)
    sizes = [49] + [2] * n_hidden + [10]
    weights = [rng.integers(-3, 4, (o, i)).astype(np.int8) for i, o in zip(sizes, sizes[1:])]
    biases = [np.full(o, 40, np.int32) for o in sizes[1:]]
    shifts = [np.full(o, 1, np.uint8) for o in sizes[1:-1]]
    return IntModel(weights, biases, shifts, 4)


def test_names_stay_whole_up_to_the_bound():
    assert model_name([196, 192, 64, 10]) == "196-192-64-10"
    assert model_name([49] + [2] * 298 + [10]) == "49-298hidden-10"
    edge = [49] + [2] * ((MAX_MODEL_NAME - len("49-10")) // 2) + [10]
    assert len("-".join(map(str, edge))) <= MAX_MODEL_NAME and model_name(edge) == "-".join(map(str, edge))


@pytest.mark.toolchain
def test_a_300_layer_models_ready_line_arrives_whole(mnist_data, tmp_path):
    model = deep_model(299)
    assert len(model.weights) == 300 and len("-".join(map(str, model.sizes))) > MAX_MODEL_NAME
    fw = build(model, BuildSpec.of(model, GENERIC, "serve"), tmp_path / "fw", "deep")
    image = mnist_data.test_images[:1]
    with Ucsim(fw.ihx, GENERIC, "socket") as sim:
        s = Session(sim.port)
        assert s.next_record(60) == protocol.Ready("serve", "49-299hidden-10")
        records = []
        run.exchange(s, [0], image, 60.0, records.append)
    logits, _ = simulate.run(model, image)
    assert [r.logits for r in records if isinstance(r, protocol.Prediction)] == [tuple(int(v) for v in logits[0])]
