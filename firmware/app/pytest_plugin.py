"""pytest plugin for host-side simulation tests of digit51 firmware (entry point
`pytest11`: active wherever digit51 is installed).

Fixtures (override any of them in your conftest.py):

    digit51_data_dir  folder of the MNIST IDX files: --digit51-data DIR, else $DIGIT51_DATA,
                      else None (digit51's own rules: the user cache, then a download)
    digit51_data      MNIST loaded from it (digit51.Mnist), once per session
    digit51_model     the integer model to build: yours to define (an IntModel or a .q51 path)
    digit51_target    chip profile name (default "generic-8052")
    digit51_mode      firmware mode (default "serve")
    digit51_firmware  the firmware of digit51_model, built once per session; override it
                      to return a Firmware or the path of a prebuilt .ihx to take that one
    digit51_build     factory: digit51_build(model, mode=..., target=..., kernel=...) -> Firmware
    digit51_boot      factory: digit51_boot(firmware, target=None, link="socket") -> Board in s51
    digit51_board     digit51_firmware booted in s51: send frames, read checked records

Every board booted through these fixtures is stopped at teardown, also when the test
failed, raised or was interrupted by a timeout: no s51 or socat process is left behind.
Check a firmware with `digit51.assert_bit_exact(board_or_firmware, model, images)`.

Marker `@pytest.mark.digit51_toolchain`: skip the test when SDCC or s51 is not installed,
except in CI (environment variable CI set), where a missing tool fails the test instead.
"""

from __future__ import annotations

import os
import shutil

import pytest

TOOLS = {"sdcc": "sdcc", "packihx": "sdcc", "s51": "sdcc-ucsim", "socat": "socat"}  # tool -> Debian package


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("digit51", "digit51 firmware simulation")
    group.addoption("--digit51-data", metavar="DIR", default=None,
                    help="folder with the MNIST IDX files for digit51's fixtures (default: $DIGIT51_DATA, "
                         "then the user cache, then a download)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "digit51_toolchain: needs SDCC, the s51 simulator and socat; skipped where they are missing, "
        "failed instead when the CI environment variable is set",
    )


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("digit51_toolchain") is None:
        return
    missing = missing_tools()
    if not missing:
        return
    packages = " ".join(sorted({TOOLS[t] for t in missing}))
    why = f"digit51: {', '.join(missing)} not found on PATH (install with `apt-get install {packages}`)"
    if in_ci():
        pytest.fail(f"{why}; CI is set, so this fails instead of skipping", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def digit51_data_dir(pytestconfig: pytest.Config):
    return pytestconfig.getoption("--digit51-data") or os.environ.get("DIGIT51_DATA") or None


@pytest.fixture(scope="session")
def digit51_data(digit51_data_dir):
    import digit51

    return digit51.load_data(digit51_data_dir)


@pytest.fixture(scope="session")
def digit51_model():
    pytest.fail("define a `digit51_model` fixture in your conftest.py returning a digit51.IntModel "
                "(digit51.quantize or digit51.load_model) or the path of a .q51 file", pytrace=False)


@pytest.fixture(scope="session")
def digit51_target() -> str:
    return "generic-8052"


@pytest.fixture(scope="session")
def digit51_mode() -> str:
    return "serve"


@pytest.fixture(scope="session")
def digit51_build(tmp_path_factory, digit51_target, digit51_mode):
    """Build a firmware into a fresh temporary folder; defaults from digit51_target/mode."""
    import digit51

    def build(model, mode: str | None = None, target: str | None = None, **options) -> "digit51.Firmware":
        if not isinstance(model, digit51.IntModel):
            model = digit51.load_model(model)
        out = tmp_path_factory.mktemp("digit51-firmware")
        return digit51.build_firmware(model, out, target=target or digit51_target, mode=mode or digit51_mode, **options)

    return build


@pytest.fixture(scope="session")
def digit51_firmware(digit51_build, digit51_model):
    return digit51_build(digit51_model)


@pytest.fixture
def digit51_boot():
    """Boot firmware in s51 for this test; every board is stopped at teardown."""
    import digit51

    boards = []

    def boot(firmware, target: str | None = None, link: str = "socket") -> "digit51.Board":
        board = digit51.boot(firmware, target, link)
        boards.append(board)
        return board

    try:
        yield boot
    finally:
        for board in reversed(boards):
            board.close()


@pytest.fixture
def digit51_board(digit51_boot, digit51_firmware):
    return digit51_boot(digit51_firmware)
