"""`digit51 ui` in a real browser: Debian's Chromium driven by Selenium draws digits with
pointer actions, drops an MNIST PNG, and checks every answer against the integer
simulator run on the 28x28 the page displays. Skips only when Chromium cannot be
installed (never in CI, where .ci/setup installs it)."""

import base64
import os
import shutil
import time

import numpy as np
import pytest

from helpers import ui_start, ui_stop, ui_wait_exit
from digit51.firmware.app.mnist_style import rgba_to_grey, to_mnist
from digit51.quantize import model_file, simulate

pytestmark = pytest.mark.toolchain  # every test here builds with SDCC or runs s51

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1100,880"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromium-driver", DRIVER)) if not path]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("selenium (pip install '.[browser]')")
    if missing:
        why = f"browser test skipped: {', '.join(missing)} not installed (bash .ci/setup installs them)"
        if os.environ.get("CI"):
            pytest.fail(why.replace("skipped", "cannot run in CI"), pytrace=False)
        pytest.skip(why)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        opts.add_argument(f)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(DRIVER))
    yield driver
    driver.quit()


def stroke(driver, pad, points, kind="mouse"):
    """Press, move through `points` (offsets from the pad's centre, CSS pixels), release."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    actions = ActionBuilder(driver, mouse=PointerInput(getattr(interaction, f"POINTER_{kind.upper()}"), kind))
    p = actions.pointer_action
    x0, y0 = points[0]
    p.move_to(pad, x0, y0).pointer_down()
    for x, y in points[1:]:
        for t in np.linspace(0, 1, 8)[1:]:  # several moves per segment, as a hand makes
            p.move_to(pad, int(x0 + t * (x - x0)), int(y0 + t * (y - y0)))
        x0, y0 = x, y
    p.pointer_up()
    actions.perform()


def classify(driver):
    from selenium.webdriver.common.by import By

    driver.execute_script("document.body.dataset.state = 'asking'")
    driver.find_element(By.ID, "classify").click()
    wait_answer(driver)


def wait_answer(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.body.dataset.state") == "done")


def canvas_grey(driver, element_id):
    js = f"""const c = document.getElementById('{element_id}');
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let s = ''; for (let i = 0; i < d.length; i++) s += String.fromCharCode(d[i]);
             return [c.width, c.height, btoa(s)];"""
    w, h, b64 = driver.execute_script(js)
    return rgba_to_grey(np.frombuffer(base64.b64decode(b64), np.uint8).reshape(h, w, 4))


def shown(driver):
    """(digit, firmware logits, simulator logits, 28x28) as the page shows them."""
    from selenium.webdriver.common.by import By

    assert driver.find_element(By.ID, "result").is_displayed(), driver.find_element(By.ID, "message").text
    fw = [int(td.text) for td in driver.find_elements(By.CSS_SELECTOR, "#logits td.fw-logit")]
    sim = [int(td.text) for td in driver.find_elements(By.CSS_SELECTOR, "#logits td.sim-logit")]
    return int(driver.find_element(By.ID, "digit").text), fw, sim, canvas_grey(driver, "mnist28")


def check_answer(driver, model):
    """The page's answer is what the integer simulator computes for the 28x28 it shows, and its
    bars are the probabilities of the dequantized logits."""
    from selenium.webdriver.common.by import By

    digit, fw, sim, img28 = shown(driver)
    want, pred = simulate.run(model, img28[None])
    assert fw == sim == want[0].tolist()
    assert digit == int(pred[0])
    assert not driver.find_element(By.ID, "mismatch").is_displayed()
    assert "cycles" in driver.find_element(By.ID, "speed").text
    check_probabilities(driver, model, fw, digit)
    return digit, img28


def check_probabilities(driver, model, logits, digit):
    """softmax(logit x logit_scale), the scale read here from the model file's own record; the
    shown percentages sum to 100 % and the winner draws the longest bar."""
    from selenium.webdriver.common.by import By

    z = np.array(logits, np.float64) * model.meta["layers"][-1]["logit_scale"]
    want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    cells = driver.find_elements(By.CSS_SELECTOR, "#logits td.prob")
    got = np.array([float(td.get_attribute("data-p")) for td in cells])
    assert np.allclose(got, want, rtol=1e-9, atol=1e-12), (got, want)
    shown_pct = [float(td.text.removesuffix(" %")) for td in cells]
    assert abs(sum(shown_pct) - 100) <= 0.05 * len(cells), shown_pct
    assert np.allclose(shown_pct, 100 * want, atol=0.05)
    bars = [driver.execute_script("return arguments[0].getBoundingClientRect().width", s)
            for s in driver.find_elements(By.CSS_SELECTOR, "#logits td.bar span")]
    assert int(np.argmax(bars)) == digit and max(bars) == pytest.approx(200 * want.max(), abs=1)


ONE = [[(5, -95), (0, 95)]]
SEVEN = [[(-75, -85), (70, -85), (-5, 100)]]


def test_draw_drop_and_blank_in_chromium(browser, small_int_model, mnist_data, tmp_path):
    from selenium.webdriver.common.by import By

    qmodel = tmp_path / "small.q51"
    model_file.save(qmodel, small_int_model)
    proc, url = ui_start(qmodel)
    try:
        t0 = time.monotonic()
        browser.get(url)
        pad = browser.find_element(By.ID, "pad")
        answers = {}
        for name, strokes, kind in (("1", ONE, "mouse"), ("7", SEVEN, "pen")):
            browser.find_element(By.ID, "clear").click()
            for s in strokes:
                stroke(browser, pad, s, kind)
            drawn = canvas_grey(browser, "pad")
            assert drawn.max() == 255 and (drawn > 0).mean() > 0.03, "the strokes did not draw"
            classify(browser)
            digit, img28 = check_answer(browser, small_int_model)
            assert np.array_equal(img28, to_mnist(drawn)), "the page shows the host's preprocessing of the pad"
            answers[name] = digit
            browser.save_screenshot(str(tmp_path / f"drawn-{name}.png"))
        assert answers == {"1": 1, "7": 7}, answers
        assert not browser.find_element(By.ID, "deskewed-figure").is_displayed()  # this model does not deskew

        browser.find_element(By.ID, "clear").click()
        classify(browser)
        assert "blank" in browser.find_element(By.ID, "message").text
        assert not browser.find_element(By.ID, "result").is_displayed()
        browser.save_screenshot(str(tmp_path / "blank.png"))

        k = 4  # an MNIST test image, as a PNG file dropped on the pad
        digit, img28 = drop_mnist(browser, pad, mnist_data, k, tmp_path, small_int_model)
        assert digit == int(simulate.run(small_int_model, mnist_data.test_images[k:k + 1])[1][0])
        browser.save_screenshot(str(tmp_path / "dropped.png"))

        browser.get("about:blank")  # closing the page stops the server (after a grace for reloads)
        assert ui_wait_exit(proc) == 0
        print(f"browser test: {time.monotonic() - t0:.1f} s; screenshots in {tmp_path}")
    finally:
        ui_stop(proc)


def drop_mnist(driver, pad, mnist_data, k, tmp_path, model):
    """Test image k as a PNG file dropped on the pad; the checked (digit, 28x28) of the answer."""
    from PIL import Image

    png = tmp_path / f"mnist-{k}.png"
    Image.fromarray(mnist_data.test_images[k]).save(png)
    driver.execute_script("document.body.dataset.state = 'asking'")
    drop_file(driver, pad, png)
    wait_answer(driver)
    return check_answer(driver, model)


def drop_file(driver, target, path):
    """A real file from disk, dropped: Selenium fills a file input, a DataTransfer carries it."""
    inp = driver.execute_script("""const i = document.createElement('input');
        i.type = 'file'; i.id = 'dropper'; i.style.display = 'none'; document.body.appendChild(i); return i;""")
    inp.send_keys(str(path))
    driver.execute_script("""const dt = new DataTransfer(); dt.items.add(arguments[1].files[0]);
        for (const t of ['dragenter', 'dragover', 'drop'])
            arguments[0].dispatchEvent(new DragEvent(t, {dataTransfer: dt, bubbles: true, cancelable: true}));""",
                          target, inp)


def test_the_deskewed_image_the_chip_pools(browser, mnist_data, tmp_path):
    """A model trained with deskew: the page shows the 28x28 after the integer deskew (the
    spec, trainer/preprocess.py) and the pooled image is that one pooled. On a 1T chip (the
    CH559) in ucsim the page gives the cycles of ucsim's 12-clock core, no time of the chip's."""
    from selenium.webdriver.common.by import By

    from digit51.quantize.quantizer import quantize
    from digit51.trainer import preprocess
    from digit51.trainer.config import TrainConfig
    from digit51.trainer.train import train

    model = quantize(train(mnist_data, TrainConfig(hidden=(16,), pool=4, epochs=1, augment=0, deskew=True)),
                     mnist_data.train_images[:2000])
    qmodel = tmp_path / "deskew.q51"
    model_file.save(qmodel, model)
    proc, url = ui_start(qmodel, "--target", "ch559")
    try:
        browser.get(url)
        pad = browser.find_element(By.ID, "pad")
        for k in (0, 1):  # two MNIST test images, dropped as PNG files
            digit, img28 = drop_mnist(browser, pad, mnist_data, k, tmp_path, model)
            assert browser.find_element(By.ID, "deskewed-figure").is_displayed()
            deskewed = canvas_grey(browser, "deskewed")
            assert np.array_equal(deskewed, preprocess.deskew(img28[None])[0])
            assert not np.array_equal(deskewed, img28), "a slanted MNIST digit moves when deskewed"
            pooled = canvas_grey(browser, "pooled")
            assert np.array_equal(pooled.reshape(-1), preprocess.pool(deskewed[None], 4)[0])
            speed = browser.find_element(By.ID, "speed").text
            assert "machine cycles of ucsim's 12-clock core" in speed and " s per digit" not in speed, speed
        browser.save_screenshot(str(tmp_path / "deskewed.png"))
        print(f"screenshot in {tmp_path}")
    finally:
        ui_stop(proc)


HOSTILE = """<!doctype html><title>another site</title><script>
const ui = new URLSearchParams(location.search).get("ui");
Promise.allSettled([
  fetch(ui + "api/bye", {method: "POST", mode: "no-cors"}),
  fetch(ui + "api/bye", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "x"}),
  fetch(ui + "api/classify", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "{}"}),
]).then(r => { navigator.sendBeacon(ui + "api/bye"); document.body.dataset.sent = r.map(x => x.status).join(","); });
</script><body>"""


def test_another_sites_page_cannot_stop_the_server(browser, small_int_model, tmp_path):
    """A page served from another origin (another port on 127.0.0.1) posts to /api/bye the
    ways a browser lets any page do (fetch no-cors, sendBeacon): the server keeps running,
    and its own page still works, down to stopping it when closed."""
    import http.server
    import threading
    from functools import partial

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from digit51.firmware.app.ui import BYE_GRACE

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text(HOSTILE)
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "site")))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    qmodel = tmp_path / "small.q51"
    model_file.save(qmodel, small_int_model)
    proc, url = ui_start(qmodel)
    try:
        browser.get(f"http://127.0.0.1:{site.server_address[1]}/index.html?ui={url}")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.body.dataset.sent"))
        assert browser.execute_script("return document.body.dataset.sent") == "fulfilled,fulfilled,fulfilled"
        browser.get("about:blank")
        time.sleep(BYE_GRACE + 3)  # a bye the server took would have stopped it by now
        assert proc.poll() is None, proc.stderr.read()

        browser.get(url)
        browser.find_element(By.ID, "clear").click()
        for s in ONE:
            stroke(browser, browser.find_element(By.ID, "pad"), s)
        classify(browser)
        check_answer(browser, small_int_model)
        browser.get("about:blank")  # its own page's bye still stops it
        assert ui_wait_exit(proc) == 0
    finally:
        ui_stop(proc)
        site.shutdown()
