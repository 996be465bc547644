#!/usr/bin/env python3
"""The browser of `edgegate-bench end-to-end --console devices|device`.

A real headless chromium (Debian's chromium and chromedriver, driven by selenium) opens the
console of a running daemon: first the devices page, cold (a fresh profile) and then reloaded
(`--reloads` times, cache warm), and reads each load's timing from the browser itself (paint and
navigation entries of the Performance API); then it keeps the console open on the page under
test. Lines of JSON go to standard output:

  {"event": "ready", "cold": {...}, "warm": [{...}, ...], "page": "device", ...}
      the page under test is open and showing data;
  {"event": "report", "cpu_seconds": ..., "page": {...}}
      after SIGUSR2: what the page shows now (ages of its values, the event stream as the page
      received it), and the CPU time of the browser's processes since SIGUSR1.

The bench sends SIGUSR1 at the start of its measurement window and SIGUSR2 at its end; SIGTERM
(or the time limit) quits the browser.
"""

import argparse
import json
import os
import signal
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

# Runs in every document before the page's own script (through the DevTools protocol, which
# the page's Content-Security-Policy does not apply to): it notes when the page first has rows
# in the DOM. What the page's event stream received, the page itself shows on its connection
# badge (data-events, data-readings, data-lagged, data-dropped).
PROBE = r"""
(() => {
  window.__bench = { rowsAt: null };
  const mark = () => {
    if (window.__bench.rowsAt == null && document.querySelector("main[data-page] tr[data-device], main[data-page] tr[data-point]")) {
      window.__bench.rowsAt = performance.now();
    }
  };
  new MutationObserver(mark).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-page"] });
})();
"""

# The timing of the current document's load, in ms from its navigation start.
TIMING = r"""
const done = arguments[arguments.length - 1];
const nav = performance.getEntriesByType("navigation")[0] || {};
const paint = {};
for (const e of performance.getEntriesByType("paint")) paint[e.name] = e.startTime;
let lcp = null;
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) lcp = e.startTime;
  }).observe({ type: "largest-contentful-paint", buffered: true });
} catch (err) {}
// The buffered entries are delivered asynchronously: give them a frame.
requestAnimationFrame(() => setTimeout(() => done({
  first_paint_ms: paint["first-paint"] ?? null,
  first_contentful_paint_ms: paint["first-contentful-paint"] ?? null,
  dom_content_loaded_ms: nav.domContentLoadedEventEnd ?? null,
  load_ms: nav.loadEventEnd ?? null,
  response_end_ms: nav.responseEnd ?? null,
  transfer_bytes: nav.transferSize ?? null,
  rows_in_dom_ms: window.__bench ? window.__bench.rowsAt : null,
  largest_contentful_paint_ms: lcp,
}), 50));
"""

# What the page shows at the end of the window.
SHOWN = r"""
const ts = [...document.querySelectorAll("main tr[data-point] td[data-field=age][data-ts], main tr[data-device] td[data-ts]")]
  .map((el) => +el.dataset.ts).filter((t) => t > 0);
const b = (document.querySelector("[data-testid=connection]") || {}).dataset || {};
const mem = performance.memory ? performance.memory.usedJSHeapSize : null;
const banner = document.querySelector("[data-testid=error-banner]");
return {
  now_ms: Date.now(), page: (document.querySelector("main[data-page]") || {}).dataset?.page ?? null,
  rows: document.querySelectorAll("main tr[data-point], main tr[data-device]").length,
  timestamps: ts.length, newest_ms: ts.length ? Math.max(...ts) : null, oldest_ms: ts.length ? Math.min(...ts) : null,
  median_ms: ts.length ? ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)] : null,
  connection: (document.querySelector("[data-testid=connection]") || {}).textContent ?? null,
  error_banner: banner && !banner.hidden ? banner.textContent : null,
  readings_events: b.events != null ? +b.events : null, readings_chars: null,
  lagged_events: b.lagged != null ? +b.lagged : null, dropped: b.dropped != null ? +b.dropped : null,
  js_heap_bytes: mem,
};
"""


def tree_cpu_seconds(root):
    """utime + stime of `root` and every process below it, from /proc."""
    children, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        ticks[pid] = int(fields[11]) + int(fields[12])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += ticks.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK"), len(ticks)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="the console, e.g. http://127.0.0.1:9360")
    ap.add_argument("--page", choices=["devices", "device"], required=True)
    ap.add_argument("--device", help="the device of --page device")
    ap.add_argument("--reloads", type=int, default=3, help="warm loads of the devices page after the cold one")
    ap.add_argument("--max-seconds", type=float, default=600, help="quit after this long whatever happens")
    args = ap.parse_args()

    state = {"window": None, "report": False, "quit": False}
    signal.signal(signal.SIGUSR1, lambda *_: state.update(window=True))
    signal.signal(signal.SIGUSR2, lambda *_: state.update(report=True))
    signal.signal(signal.SIGTERM, lambda *_: state.update(quit=True))

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        options.add_argument(arg)
    service = Service(executable_path="/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    deadline = time.monotonic() + args.max_seconds
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE})
        wait = WebDriverWait(driver, 60, poll_frequency=0.05)

        def devices_loaded(d):
            return d.execute_script('return !!document.querySelector("main[data-page=devices] tr[data-device]")')

        driver.get(args.url + "/#/devices")
        wait.until(devices_loaded)
        cold = driver.execute_async_script(TIMING)
        warm = []
        for _ in range(args.reloads):
            driver.refresh()
            wait.until(devices_loaded)
            warm.append(driver.execute_async_script(TIMING))

        if args.page == "device":
            driver.get(args.url + "/#/devices/" + args.device)
            wait.until(lambda d: d.execute_script('return !!document.querySelector("main[data-page=device] tr[data-point]")'))
        emit({"event": "ready", "page": args.page, "device": args.device, "cold": cold, "warm": warm})

        root = service.process.pid
        start = None
        while not state["quit"] and time.monotonic() < deadline:
            if state["window"] and start is None:
                start = (time.monotonic(), tree_cpu_seconds(root))
            if state["report"]:
                end = (time.monotonic(), tree_cpu_seconds(root))
                shown = driver.execute_script(SHOWN)
                report = {"event": "report", "page": shown}
                if start:
                    report["cpu_seconds"] = end[1][0] - start[1][0]
                    report["wall_seconds"] = end[0] - start[0]
                emit(report)
                break
            time.sleep(0.05)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
