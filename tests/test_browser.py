"""The feature-space explorer in a real browser: JupyterLab on 127.0.0.1, headless Chromium.

One end-to-end test: start ``jupyter lab`` (this venv's) on a free port of 127.0.0.1 with a
token, open a copy of ``notebooks/04_feature_space.ipynb`` in headless Chromium (Debian's
``chromium`` driven by playwright through ``executable_path``: playwright's own browser download
is not used), run all its cells in fast mode, then check what a user sees:

- the explorer's scatter views (jupyter-scatter, a WebGL canvas each) render: a canvas of
  non-zero size whose pixels are not one flat colour (points are drawn);
- a lasso selection made the way a user makes it (mouse pressed and held still, then dragged
  round points of the first view: jupyter-scatter's long-press lasso) fills the image panel:
  ``<img>`` thumbnails (ipywidgets ``Image``, a ``blob:`` source) and the header
  ``"N selected"`` / ``"first 12 of N selected"``; the other, linked view changes with it;
- the static picture (a PNG ``<img>`` under the views and the panel, what an exported notebook
  shows) is there, and the "colour by" dropdown recolours the views and that picture;
- a click on one point selects it alone and the panel shows its neighbours: a header
  ``"N nearest '<class>' rows from other images"`` over their thumbnails.

Screenshots (after rendering, mid-lasso, after the selection, recoloured, after the click, and on
failure, with
the server and browser logs) go to ``$MLRKIT_TEST_OUTPUT/browser`` (default: the test's
``tmp_path/browser``); the folder is printed (``pytest -s``) and named in every failure message.

Without Chromium (or playwright) the test is skipped with one line in the ``-ra`` summary.
Chromium is looked up as ``$MLRKIT_CHROMIUM`` when set (a path that does not exist means none:
that is how to try the skip), else ``chromium`` or ``chromium-browser`` on PATH.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "04_feature_space.ipynb"

INSTALL_HINT = "the browser test needs Debian's chromium package (apt-get install chromium)"
# WebGL in headless Chromium without a GPU: ANGLE on SwiftShader (software). Recent Chromium
# only falls back to SwiftShader for WebGL when it is explicitly allowed.
WEBGL_FLAGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
if hasattr(os, "geteuid") and os.geteuid() == 0:
    WEBGL_FLAGS.append("--no-sandbox")  # Chromium refuses to start its sandbox as root

SERVER_START_S = 120  # JupyterLab up and answering /api/status
PAGE_LOAD_S = 120  # the notebook open, its kernel idle
RUN_ALL_S = 360  # fast-mode training of two runs + UMAP (numba compiles ~40 s) + the explorer
DRAW_S = 60  # points drawn in the canvas
LONG_PRESS_MS = 1500  # regl-scatterplot's lasso long press is 750 ms; slack for a busy CPU
SELECT_S = 120  # thumbnails (with attention overlays) in the panel after the lasso
PANEL_HEADER = re.compile(r"(?:first (\d+) of )?(\d+) selected")
NEAR_HEADER = re.compile(r"(\d+) nearest '[^']+' rows from other images")


def find_chromium() -> tuple[str | None, str]:
    """Chromium's path (or None) and, when None, the one-line reason to skip."""
    explicit = os.environ.get("MLRKIT_CHROMIUM")
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return explicit, ""
        return None, f"no Chromium at MLRKIT_CHROMIUM={explicit}: {INSTALL_HINT}"
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found, ""
    return None, f"no Chromium: {INSTALL_HINT}; .ci/run installs it"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def _api(base: str, token: str, path: str, method: str = "GET", timeout: float = 5) -> Any:
    request = urllib.request.Request(
        f"{base}{path}", method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (127.0.0.1)
        body = response.read()
    return json.loads(body) if body else None


@contextlib.contextmanager
def jupyter_lab(root: Path, home: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """Run ``jupyter lab`` on 127.0.0.1 serving ``root``; yield its base URL with the token as
    ``?token=`` query. Its Jupyter config, data and runtime folders live under ``home`` (the
    labextensions of the venv, jupyter-scatter's and the widgets', are still found: they are in
    ``sys.prefix/share/jupyter``). Stopped (kernels included) on exit, whatever happened."""
    import psutil

    config = home / "config"
    settings = config / "lab" / "user-settings" / "@jupyterlab"
    # No news/update toast over the notebook (and no request to the internet for it).
    _write_json(
        settings / "apputils-extension" / "notification.jupyterlab-settings",
        {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
    )
    port, token = _free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    env = {
        **env,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": str(home / "ipython"),
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
        "jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {process.returncode}; log: {log}")
            try:
                _api(base, token, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"jupyter lab did not answer in {SERVER_START_S} s; log: {log}"
                    ) from None
                time.sleep(0.5)
        yield f"{base}/lab/tree/{{path}}?token={token}"
    finally:
        # Kernels first (they are not the server's process group), then the server itself.
        children = []
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(process.pid).children(recursive=True)
        with contextlib.suppress(Exception):
            _api(base, token, "/api/shutdown", method="POST", timeout=10)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()


def _is_drawn(png: bytes) -> tuple[bool, str]:
    """Whether a canvas screenshot shows drawn points: not one flat colour."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 24) or []
    total = image.width * image.height
    top = max(count for count, _ in colours) if colours else total
    other = total - top
    # Points: at least 50 pixels off the background colour, in more than 3 colours.
    drawn = len(colours) > 3 and other >= 50
    return drawn, f"{image.width}x{image.height} px, {len(colours)} colours, {other} px off bg"


def _lasso(page: Any, box: dict[str, float], shot: Path | None = None) -> None:
    """Draw a closed lasso (an ellipse over 80 % of ``box``) with the mouse, the way a user
    selects in jupyter-scatter 1.0: press and hold still (regl-scatterplot's long press, 750 ms,
    turns the press into a lasso), then drag around the points and release. Moves are spaced
    for the lasso, which records a point at most every ``lasso_min_delay`` ms (10) and
    ``lasso_min_dist`` px (3). ``shot``: a screenshot halfway round, lasso drawn.

    Shift + drag does not start a lasso in jupyter-scatter 1.0.1: its widget creates the
    scatterplot with ``actionKeyMap={merge: "meta", remove: "alt"}``, which drops
    regl-scatterplot's default ``lasso: "shift"``; a shift-drag pans the view instead."""
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    rx, ry = box["width"] * 0.4, box["height"] * 0.4
    points = [
        (cx + rx * math.cos(2 * math.pi * k / 48), cy + ry * math.sin(2 * math.pi * k / 48))
        for k in range(49)
    ]
    page.mouse.move(*points[0])
    page.mouse.down()
    try:
        page.wait_for_timeout(LONG_PRESS_MS)
        for k, (x, y) in enumerate(points[1:], start=1):
            page.mouse.move(x, y, steps=3)
            page.wait_for_timeout(20)
            if shot is not None and k == 30:
                page.screenshot(path=str(shot))
    finally:
        page.mouse.up()


def _a_point(png: bytes) -> tuple[int, int]:
    """The centre (x, y) of a drawn point in a canvas screenshot: a pixel off the background
    colour whose 5 x 5 neighbourhood is all off it, nearest the middle."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int32)
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    values, counts = np.unique(codes, return_counts=True)
    off = codes != values[np.argmax(counts)]
    inner = off.copy()
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            inner &= np.roll(off, (dy, dx), axis=(0, 1))
    ys, xs = np.nonzero(inner[2:-2, 2:-2])
    assert len(ys), "no point of 5 x 5 pixels in the view"
    h, w = codes.shape
    best = np.argmin((ys + 2 - h / 2) ** 2 + (xs + 2 - w / 2) ** 2)
    return int(xs[best]) + 2, int(ys[best]) + 2


def _explore(page: Any, url: str, out: Path, notes: list[str]) -> None:
    """Open the notebook, run all cells, check the canvas, lasso, check the panel."""
    from playwright.sync_api import expect

    page.goto(url, wait_until="domcontentloaded", timeout=PAGE_LOAD_S * 1000)
    notebook = page.locator(".jp-NotebookPanel").first
    notebook.locator(".jp-Cell").first.wait_for(timeout=PAGE_LOAD_S * 1000)
    idle = notebook.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
    idle.first.wait_for(state="attached", timeout=PAGE_LOAD_S * 1000)
    notes.append("notebook open, kernel idle")

    # Run > Run All Cells, as a user does. On a loaded machine the first click can land before
    # the kernel connection is ready and nothing is queued: then the prompts stay "[ ]" and the
    # menu is used again (at most three times).
    started = notebook.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    for attempt in range(1, 4):
        notebook.locator(".jp-Cell").first.click()
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*Run\s*$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^\s*Run All Cells\s*$")).click()
        notes.append(f"Run All Cells clicked (attempt {attempt})")
        try:
            started.first.wait_for(state="attached", timeout=30_000)
            break
        except Exception:  # playwright's TimeoutError: no cell started
            if attempt == 3:
                raise AssertionError("Run All Cells started no cell in 3 attempts") from None

    # The explorer: the output holding the panel's hint and the scatter canvases.
    explorer = notebook.locator(".jp-OutputArea-output").filter(has=page.locator("canvas"))
    errors = notebook.locator('[data-mime-type="application/vnd.jupyter.error"]')
    deadline = time.monotonic() + RUN_ALL_S
    while not explorer.count():
        if errors.count():
            raise AssertionError(f"a cell failed:\n{errors.first.inner_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no explorer canvas after {RUN_ALL_S} s of Run All")
        page.wait_for_timeout(1000)
    explorer = explorer.first
    explorer.scroll_into_view_if_needed()
    notes.append("explorer output present")

    # The scatter views: one canvas per jupyter-scatter widget, each of non-zero size with
    # points drawn (WebGL under SwiftShader; the page composites them, so a screenshot sees them).
    # (Each view also stacks a label canvas over its scatter canvas, and tooltip histograms
    # hold small ones: those have pointer-events none in their style.)
    canvases = explorer.locator('canvas:not([style*="pointer-events"])')
    expect(canvases.first).to_be_visible(timeout=DRAW_S * 1000)
    views = [c for c in canvases.all() if (c.bounding_box() or {}).get("width", 0) > 100]
    assert len(views) == 2, f"expected 2 scatter views, found {len(views)} canvases"
    for k, canvas in enumerate(views):
        box = canvas.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, f"canvas {k}: {box}"
        deadline = time.monotonic() + DRAW_S
        while True:
            drawn, how = _is_drawn(canvas.screenshot())
            if drawn:
                break
            assert time.monotonic() < deadline, f"canvas {k} shows no points: {how}"
            page.wait_for_timeout(1000)
        notes.append(f"canvas {k} drawn: {how}")
    header = explorer.locator(".widget-html", has_text=re.compile(r"Select points|selected"))
    expect(header).to_contain_text("Select points", timeout=DRAW_S * 1000)
    page.screenshot(path=str(out / "01_rendered.png"))
    explorer.screenshot(path=str(out / "01_explorer_rendered.png"))

    # Select: long press, then drag a closed lasso over the first view.
    views[0].scroll_into_view_if_needed()
    box = views[0].bounding_box()
    assert box is not None
    other_before = views[1].screenshot()
    _lasso(page, box, out / "02_lasso_drawing.png")
    notes.append("lasso drawn")
    thumbnails = explorer.locator(".widget-gridbox img")
    expect(thumbnails.first).to_be_visible(timeout=SELECT_S * 1000)
    expect(header).to_contain_text(PANEL_HEADER, timeout=SELECT_S * 1000)
    text = header.first.inner_text()
    match = PANEL_HEADER.search(text)
    assert match, text
    total = int(match.group(2))
    shown = int(match.group(1) or total)
    expect(thumbnails).to_have_count(shown, timeout=SELECT_S * 1000)
    sources = [img.get_attribute("src") or "" for img in thumbnails.all()]
    assert all(s.startswith(("blob:", "data:image")) for s in sources), sources[:3]
    notes.append(f"panel: {text!r}, {len(sources)} thumbnails")
    # The views are linked: the other one outlines the same rows.
    deadline = time.monotonic() + DRAW_S
    while views[1].screenshot() == other_before:
        assert time.monotonic() < deadline, "the other view did not change with the selection"
        page.wait_for_timeout(1000)
    notes.append("other view changed")
    page.wait_for_timeout(500)  # let the thumbnails paint before the screenshot
    page.screenshot(path=str(out / "03_selected.png"))
    explorer.screenshot(path=str(out / "03_explorer_selected.png"))

    # The static picture under the views and the panel (what an exported notebook shows), and
    # the "colour by" dropdown: it recolours the views and redraws the picture.
    picture = explorer.locator('.widget-html:has-text("static picture") + img')
    expect(picture).to_be_visible(timeout=DRAW_S * 1000)
    picture_box, view_box = picture.bounding_box(), views[0].bounding_box()
    assert picture_box and view_box and picture_box["y"] > view_box["y"] + view_box["height"]
    assert picture.evaluate("img => img.naturalWidth") > 300
    source, view_before = picture.get_attribute("src"), views[0].screenshot()
    # (notebook 04 colours by "correct" in the cell after the widget: pick another colouring)
    explorer.locator("select").first.select_option("score")
    deadline = time.monotonic() + DRAW_S
    while views[0].screenshot() == view_before or picture.get_attribute("src") == source:
        assert time.monotonic() < deadline, "colour by 'score': view or picture unchanged"
        page.wait_for_timeout(1000)
    expect(header).to_contain_text(PANEL_HEADER)  # the selection stays
    notes.append("static picture present; recoloured by 'score'")
    page.wait_for_timeout(500)
    explorer.screenshot(path=str(out / "04_explorer_recoloured.png"))

    # A click on one point selects it alone: the panel adds its nearest rows of its class.
    views[0].scroll_into_view_if_needed()
    box = views[0].bounding_box()
    assert box is not None
    x, y = _a_point(views[0].screenshot())
    page.mouse.click(box["x"] + x, box["y"] + y)
    expect(header).to_contain_text(re.compile(r"^\s*1 selected"), timeout=SELECT_S * 1000)
    near = explorer.locator(".widget-html", has_text=NEAR_HEADER)
    expect(near).to_be_visible(timeout=SELECT_S * 1000)
    count = int(NEAR_HEADER.search(near.first.inner_text()).group(1))
    near_images = explorer.locator(".widget-vbox:has(> .widget-html:has-text('nearest')) img")
    expect(near_images).to_have_count(count, timeout=SELECT_S * 1000)
    notes.append(f"clicked a point: {near.first.inner_text()!r}")
    page.wait_for_timeout(500)
    explorer.screenshot(path=str(out / "05_explorer_neighbours.png"))


@pytest.mark.slow
def test_explorer_renders_and_lasso_fills_the_panel_in_chromium(tmp_path: Path) -> None:
    chromium, why = find_chromium()
    if chromium is None:
        pytest.skip(why)
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="no playwright: pip install -e '.[dev]' installs it"
    )

    out = Path(os.environ.get("MLRKIT_TEST_OUTPUT") or tmp_path) / "browser"
    out.mkdir(parents=True, exist_ok=True)
    print(f"browser test output: {out}")
    notebooks = tmp_path / "notebooks"  # a copy: the browser autosaves there, not in the repo
    notebooks.mkdir()
    shutil.copy2(NOTEBOOK, notebooks / NOTEBOOK.name)
    env = {
        **os.environ,
        "MLRKIT_FAST": "1",
        "MLRKIT_RUNS": str(tmp_path / "runs"),
        "MLRKIT_DATA": str(tmp_path / "data"),
        "MLRKIT_CACHE": str(tmp_path / "cache"),
    }
    server_log, browser_log = out / "jupyter-lab.log", out / "browser-console.log"
    notes: list[str] = []
    console: list[str] = []
    start = time.monotonic()
    with jupyter_lab(notebooks, tmp_path / "jupyter", env, server_log) as url:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, args=WEBGL_FLAGS, timeout=60_000
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1600})
                page.set_default_timeout(60_000)
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
                try:
                    _explore(page, url.format(path=NOTEBOOK.name), out, notes)
                except Exception as error:
                    with contextlib.suppress(Exception):
                        page.screenshot(path=str(out / "failure.png"))
                    browser_log.write_text("\n".join(console), encoding="utf-8")
                    raise AssertionError(
                        f"{type(error).__name__}: {error}\nsteps done: {notes}\n"
                        f"screenshot: {out / 'failure.png'}\nserver log: {server_log}\n"
                        f"browser console: {browser_log}"
                    ) from error
            finally:
                browser.close()
    browser_log.write_text("\n".join(console), encoding="utf-8")
    print(f"browser test: {'; '.join(notes)}; {time.monotonic() - start:.0f} s")
    for name in ("01_rendered.png", "03_selected.png"):
        assert (out / name).stat().st_size > 10_000, out / name
