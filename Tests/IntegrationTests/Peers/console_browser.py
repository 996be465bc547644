"""A real browser for the console's tests: Debian's headless chromium driven by Selenium
(chromedriver at /usr/bin/chromedriver), and pymodbus 3.7 as a Modbus client independent of
edgegate's adapter, for what the tests write to and read from the simulator's registers.

Usage: console_browser.py DIR

The Swift test (IntegrationTests/ConsoleBrowserTests.swift) speaks to it through files, one
request at a time: it writes DIR/requests/N.json (N = 1, 2, ...; written whole, then renamed),
this peer carries it out and writes DIR/responses/N.json the same way:
  {"ok": true, "value": ...}  or  {"ok": false, "error": "sentence"}.
DIR/ready appears once the browser runs (DIR/failed with the reason if it cannot start).

Requests ({"op": ..., ...}; selectors are CSS; timeouts in seconds):
  open URL                     load a page
  wait SELECTOR CONDITION [VALUE] [TIMEOUT]
                               wait until the first element matching SELECTOR meets CONDITION:
                               present, absent, displayed, hidden, text (its text equals VALUE),
                               text_not (its text differs from VALUE), contains (its text
                               contains VALUE), class (its class list has VALUE); answers the
                               element's text, or the last one seen with the error
  text SELECTOR                the text of the first match (error when none)
  texts SELECTOR               the texts of every match
  attribute SELECTOR NAME      an attribute or property of the first match (null when absent)
  count SELECTOR               how many elements match
  click SELECTOR               click the first match
  type SELECTOR TEXT           clear the first match and type TEXT into it
  select SELECTOR VALUE        choose the option with value VALUE of a select
  script JS [ARGS]             run JS (a function body; `arguments` are ARGS), answer its result
  screenshot PATH              save the window as a PNG at PATH
  logs                         the browser console's entries since the last `logs`
                               ([{"level", "source", "message"}])
  modbus_read PORT ADDRESS [COUNT]    holding registers of unit 1 on 127.0.0.1:PORT
  modbus_write PORT ADDRESS VALUE     one holding register (FC 6)
  quit                         close the browser and exit 0

A wait never sleeps for a fixed time: Selenium's WebDriverWait polls the condition until it holds
or the request's timeout passes. The peer exits when its parent (the test) is gone, so a test
that dies leaves no browser behind."""
import json
import os
import signal
import sys
import time
import traceback

from pymodbus.client import ModbusTcpClient
from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException,
                                        TimeoutException, WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The window (and the screenshots) of every run: the same page looks the same in each.
WIDTH, HEIGHT = 1280, 800


def start_browser(directory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in [
        "--headless=new",
        # CI runs the tests as root, where chromium's sandbox cannot start.
        "--no-sandbox",
        # A container's /dev/shm is small; chromium then crashes tabs instead of paging.
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-proxy-server",
        f"--window-size={WIDTH},{HEIGHT + 200}",
        "--user-data-dir=" + os.path.join(directory, "profile"),
    ]:
        options.add_argument(argument)
    # Every console message and uncaught error, for the test that the page raises none.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=os.path.join(directory, "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    # The viewport exactly, whatever the headless window's own decorations take.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    return driver


class Peer:
    def __init__(self, driver):
        self.driver = driver

    def first(self, selector):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def wait(self, selector, condition, value=None, timeout=30):
        last = {"text": None}

        def check(driver):
            found = driver.find_elements(By.CSS_SELECTOR, selector)
            if condition == "absent":
                return True if not found else False
            if not found:
                last["text"] = None
                return False
            element = found[0]
            text = element.text.strip()
            last["text"] = text
            if condition == "present":
                return True
            if condition == "displayed":
                return element.is_displayed()
            if condition == "hidden":
                return not element.is_displayed()
            if condition == "text":
                return text == value
            if condition == "text_not":
                return text != value and text != ""
            if condition == "contains":
                return value in text
            if condition == "class":
                return value in (element.get_attribute("class") or "").split()
            raise ValueError(f"unknown condition {condition}")

        try:
            WebDriverWait(
                self.driver, timeout, poll_frequency=0.1,
                ignored_exceptions=[NoSuchElementException, StaleElementReferenceException],
            ).until(check)
        except TimeoutException:
            seen = "no such element" if last["text"] is None else f"its text was {json.dumps(last['text'], ensure_ascii=False)}"
            want = condition if value is None else f"{condition} {json.dumps(value, ensure_ascii=False)}"
            raise RuntimeError(f"{selector}: not {want} within {timeout} s ({seen}; page {self.driver.current_url})")
        return last["text"]

    def handle(self, request):
        op = request["op"]
        d = self.driver
        if op == "open":
            d.get(request["url"])
            return None
        if op == "wait":
            return self.wait(request["selector"], request["condition"], request.get("value"), request.get("timeout", 30))
        if op == "text":
            return self.first(request["selector"]).text.strip()
        if op == "texts":
            return [e.text.strip() for e in d.find_elements(By.CSS_SELECTOR, request["selector"])]
        if op == "attribute":
            return self.first(request["selector"]).get_attribute(request["name"])
        if op == "count":
            return len(d.find_elements(By.CSS_SELECTOR, request["selector"]))
        if op == "click":
            self.first(request["selector"]).click()
            return None
        if op == "type":
            element = self.first(request["selector"])
            element.clear()
            element.send_keys(request["text"])
            return None
        if op == "select":
            Select(self.first(request["selector"])).select_by_value(request["value"])
            return None
        if op == "script":
            return d.execute_script(request["js"], *request.get("args", []))
        if op == "screenshot":
            if not d.save_screenshot(request["path"]):
                raise RuntimeError(f"cannot save a screenshot at {request['path']}")
            return request["path"]
        if op == "logs":
            return [{"level": e.get("level"), "source": e.get("source"), "message": e.get("message")} for e in d.get_log("browser")]
        if op == "modbus_read":
            with modbus(request["port"]) as client:
                answer = client.read_holding_registers(request["address"], count=request.get("count", 1), slave=1)
                if answer.isError():
                    raise RuntimeError(f"read holding {request['address']}: {answer}")
                return list(answer.registers)
        if op == "modbus_write":
            with modbus(request["port"]) as client:
                answer = client.write_register(request["address"], request["value"], slave=1)
                if answer.isError():
                    raise RuntimeError(f"write holding {request['address']}: {answer}")
                return None
        raise ValueError(f"unknown op {op}")


class modbus:
    """A connection for one request: the simulator may be stopped between requests."""

    def __init__(self, port):
        self.client = ModbusTcpClient("127.0.0.1", port=port, timeout=5, retries=1)

    def __enter__(self):
        if not self.client.connect():
            raise RuntimeError(f"cannot connect to the Modbus server at 127.0.0.1:{self.client.comm_params.port}")
        return self.client

    def __exit__(self, *_):
        self.client.close()


def write_atomically(path, payload):
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(payload, f, ensure_ascii=False)
    os.replace(temporary, path)


def main():
    directory = sys.argv[1]
    requests = os.path.join(directory, "requests")
    responses = os.path.join(directory, "responses")
    os.makedirs(requests, exist_ok=True)
    os.makedirs(responses, exist_ok=True)
    parent = os.getppid()
    # SIGTERM from the test ends the loop below through SystemExit, so the browser is closed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        driver = start_browser(directory)
    except Exception as error:
        write_atomically(os.path.join(directory, "failed"), {"error": f"{type(error).__name__}: {error}"})
        return 1
    peer = Peer(driver)
    try:
        write_atomically(os.path.join(directory, "ready"), {"ok": True})
        number = 1
        while os.getppid() == parent:
            path = os.path.join(requests, f"{number}.json")
            if not os.path.exists(path):
                time.sleep(0.02)
                continue
            with open(path, encoding="utf-8") as f:
                request = json.load(f)
            if request["op"] == "quit":
                write_atomically(os.path.join(responses, f"{number}.json"), {"ok": True, "value": None})
                break
            try:
                answer = {"ok": True, "value": peer.handle(request)}
            except (WebDriverException, RuntimeError, ValueError, KeyError, OSError) as error:
                message = error.msg if isinstance(error, WebDriverException) and error.msg else str(error)
                answer = {"ok": False, "error": f"{type(error).__name__}: {message}"}
            except Exception as error:  # anything else is the peer's own bug: say where
                answer = {"ok": False, "error": f"{type(error).__name__}: {error}\n{traceback.format_exc()}"}
            write_atomically(os.path.join(responses, f"{number}.json"), answer)
            number += 1
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
