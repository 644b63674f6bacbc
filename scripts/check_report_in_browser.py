"""Open the results page that `make run` writes (outputs/index.html) in a real headless browser
and check what a learner would see: every page loads, no image is missing, every plotly figure
is drawn, no script error, every local link leads to a file.

    apt-get install chromium chromium-driver      # Debian's; any Chrome + matching chromedriver works
    .venv/bin/pip install selenium
    .venv/bin/python scripts/check_report_in_browser.py [outputs] [--screenshots DIR]

Exits 1 with the problems listed, 0 with a line per page. Requests to the network (MathJax from
its CDN) are allowed to fail: the page must work offline without them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

# in the page: the images that did not load, the plotly figures and how many plotly drew, local links
PAGE_STATE = """
const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
const plots = [...document.querySelectorAll('div[id^="plot-"]')];
// drawn: plotly ran, and a 3D scene has its WebGL canvas (no "WebGL is not supported" notice)
const drawn = plots.filter(p => p.classList.contains('js-plotly-plot') && p.querySelector('.main-svg')
  && (!(p._fullLayout && p._fullLayout.scene) || p.querySelector('canvas')) && !p.innerText.includes('WebGL'));
const links = [...document.querySelectorAll('a[href]')].map(a => a.href).filter(h => h.startsWith('file:'));
return {images: document.images.length, broken: broken, plots: plots.length, drawn: drawn.length, links: links, ready: document.readyState};
"""


def browser(chromedriver: str, chromium: str | None):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                 "--allow-file-access-from-files", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"):
        options.add_argument(flag)  # swiftshader: WebGL in software, for plotly's 3D figures
    if chromium:
        options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=options)


def check_page(driver, path: Path, wait_s: float) -> tuple[dict, list[str]]:
    driver.get(path.resolve().as_uri())
    deadline = time.monotonic() + wait_s
    state = driver.execute_script(PAGE_STATE)
    while (state["ready"] != "complete" or state["drawn"] < state["plots"]) and time.monotonic() < deadline:
        time.sleep(0.2)
        state = driver.execute_script(PAGE_STATE)
    problems = [f"{path.name}: image not loaded: {src[:120]}" for src in state["broken"]]
    if state["drawn"] < state["plots"]:
        problems.append(f"{path.name}: {state['plots'] - state['drawn']} of {state['plots']} plotly figures not drawn")
    for entry in driver.get_log("browser"):
        message = entry["message"]
        offline = message.split(" ")[0].startswith(("http://", "https://"))  # a request to the network
        if entry["level"] == "SEVERE" and not offline:
            problems.append(f"{path.name}: console error: {message[:300]}")
    for link in state["links"]:
        target = Path(unquote(urlparse(link).path))
        if not target.exists():
            problems.append(f"{path.name}: link to a missing file: {target}")
    return state, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outputs", nargs="?", default="outputs", help="the folder make run wrote (default outputs)")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--chromium", default=None, help="the browser binary (default: chromedriver's choice)")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds a page may take to draw its figures")
    parser.add_argument("--screenshots", default="", help="save a screenshot of each page here")
    args = parser.parse_args(argv)

    index = Path(args.outputs) / "index.html"
    if not index.is_file():
        print(f"no {index}: run `make run` first", file=sys.stderr)
        return 2
    driver = browser(args.chromedriver, args.chromium)
    problems: list[str] = []
    try:
        state, found = check_page(driver, index, args.wait)
        problems += found
        pages = sorted({Path(unquote(urlparse(link).path)) for link in state["links"]
                        if link.endswith(".html")})
        if not pages:
            problems.append("index.html links to no notebook page")
        for path in [index, *pages]:
            if path != index:
                page_state, found = check_page(driver, path, args.wait)
                problems += found
            else:
                page_state = state
            if args.screenshots:
                Path(args.screenshots).mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(Path(args.screenshots) / f"{path.stem}.png"))
            print(f"{path.name:<36} images {page_state['images']:>3}  plotly drawn "
                  f"{page_state['drawn']:>2}/{page_state['plots']:<2}  local links {len(page_state['links'])}")
    finally:
        driver.quit()
    if problems:
        print(f"\n{len(problems)} problem(s):", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print(f"\nall {len(pages) + 1} pages load in {driver.capabilities.get('browserName', 'the browser')} "
          f"{driver.capabilities.get('browserVersion', '')}: no missing image, every plotly figure drawn, no script error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
