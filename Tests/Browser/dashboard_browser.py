"""The dashboard in a real browser (headless Chromium through Selenium), against a running `host run`.

Started by DashboardBrowserTests, which starts the host with its admin server and a known workload and
passes what it made through the environment. Each step prints one `ok:` line; the first failure prints
`FAILED:` with what the page showed, and exits 1.
"""

import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

URL = os.environ["DASHBOARD_URL"].rstrip("/")
TOKEN = os.environ["DASHBOARD_TOKEN"]
HOST = json.loads(os.environ["DASHBOARD_HOST_COMMAND"])  # the host binary and its --config
RECORD_FILE = os.environ["DASHBOARD_RECORD_FILE"]
FAIL_FLAG = os.environ["DASHBOARD_FAIL_FLAG"]
DEAD_JOB = os.environ["DASHBOARD_DEAD_JOB"]
SCHEDULED_JOB = os.environ["DASHBOARD_SCHEDULED_JOB"]
SEARCH_TEXT = os.environ["DASHBOARD_SEARCH_TEXT"]
SEARCH_JOB = os.environ["DASHBOARD_SEARCH_JOB"]
DONE_JOBS = int(os.environ["DASHBOARD_DONE_JOBS"])
WAIT = 60  # seconds: a generous bound for anything the page should show


class Failure(Exception):
    pass


def step(text):
    print(f"ok: {text}", flush=True)


def wait_for(description, predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (StaleElementReferenceException, WebDriverException, Failure) as error:
            last_error = error
        time.sleep(0.2)
    raise Failure(f"waited {timeout}s for {description}" + (f" (last error: {last_error})" if last_error else ""))


def api(path, method="GET", token=TOKEN):
    request = urllib.request.Request(URL + path, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def host(*arguments):
    result = subprocess.run(HOST[:1] + list(arguments) + HOST[1:], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise Failure(f"host {' '.join(arguments)} failed: {result.stderr}")
    return result.stdout.strip()


def recorded_ids():
    try:
        with open(RECORD_FILE) as file:
            # The test plugin's lines: "<id> <attempt> <handler> <unix µs>".
            return [line.split()[0] for line in file if line.strip()]
    except FileNotFoundError:
        return []


def browser(profile):
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--user-data-dir={profile}",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-default-apps", "--disable-domain-reliability", "--metrics-recording-only", "--window-size=1280,900"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def text_of(driver, selector):
    elements = driver.find_elements(By.CSS_SELECTOR, selector)
    return elements[0].text if elements else None


def click(driver, selector):
    """Clicks the first shown, enabled match; again if the page redrew it in between (it refreshes)."""

    def attempt():
        element = next((e for e in driver.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed() and e.is_enabled()), None)
        if element is None:
            return False
        element.click()
        return True

    wait_for(f"'{selector}' to be clickable", attempt)


def open_page(driver, hash_path):
    driver.get(f"{URL}/#{hash_path}")


def count_cell(driver, queue, state):
    return text_of(driver, f'#queue-counts tr[data-queue="{queue}"] td[data-count="{state}"]')


def requests_of_the_dashboard(driver):
    """Every URL a page of the admin server asked for (the browser's own pages, such as its blank
    new tab, are not the dashboard's)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent" and message["params"].get("documentURL", "").startswith(URL + "/"):
            urls.append(message["params"]["request"]["url"])
    return urls


class AttackerPage(http.server.BaseHTTPRequestHandler):
    """Another site the operator visits while signed in: it tries to pause the queue."""

    def do_GET(self):
        page = f"""<!doctype html><html><body>
<form id="f" method="POST" action="{URL}/api/v1/queues/default/pause"></form>
<script>
fetch("{URL}/api/v1/queues/default/pause", {{method: "POST", credentials: "include", mode: "no-cors"}})
  .finally(() => document.getElementById("f").submit());
</script></body></html>"""
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *arguments):
        pass


def run(driver):
    # Signing in.
    open_page(driver, "/")
    wait_for("the sign-in form (reads need the token here)", lambda: driver.find_elements(By.ID, "token"))
    driver.find_element(By.ID, "token").send_keys("not-the-token-at-all")
    click(driver, '#signin button[type="submit"]')
    wait_for("'wrong token'", lambda: "wrong token" in (text_of(driver, "#signin-error") or ""))
    step("a wrong token is refused and the page stays on sign-in")
    token_field = driver.find_element(By.ID, "token")
    token_field.clear()
    token_field.send_keys(TOKEN)
    click(driver, '#signin button[type="submit"]')
    wait_for("the overview after signing in", lambda: count_cell(driver, "default", "done"))
    cookies = {cookie["name"]: cookie for cookie in driver.get_cookies()}
    session = cookies.get("jobhost_token")
    if not session or not session.get("httpOnly") or session.get("sameSite") != "Strict":
        raise Failure(f"the sign-in cookie is not HttpOnly and SameSite=Strict: {session}")
    if TOKEN in driver.execute_script("return document.cookie") or TOKEN in driver.page_source or TOKEN in driver.current_url:
        raise Failure("the token is readable by the page or in its URL")
    step("signed in: the token is in an HttpOnly, SameSite=Strict cookie, not in the page, its script or the URL")

    # The overview's counts after the known workload.
    wait_for(f"{DONE_JOBS} done jobs on the overview", lambda: count_cell(driver, "default", "done") == str(DONE_JOBS))
    wait_for("one dead job on the overview", lambda: count_cell(driver, "default", "dead") == "1")
    wait_for("one scheduled job on the overview", lambda: count_cell(driver, "default", "scheduled") == "1")
    wait_for("the throughput chart", lambda: driver.find_elements(By.CSS_SELECTOR, "#throughput svg"))
    wait_for("the backend's health", lambda: "up" in (text_of(driver, '#backends tr[data-backend="main"]') or ""))
    step(f"overview: {DONE_JOBS} done, 1 dead, 1 scheduled on queue default; backend up; the chart drawn")

    # A dead job and its three failed attempts, then retried to done.
    open_page(driver, f"/job/{DEAD_JOB}")
    # Read in one go, inside the wait: the page's refresh may redraw the table between two reads.
    def attempt_rows():
        rows = driver.find_elements(By.CSS_SELECTOR, "#attempts tbody tr")
        return [(row.find_elements(By.TAG_NAME, "td")[1].text, row.text) for row in rows] if len(rows) == 3 else None
    rows = wait_for("three attempts", attempt_rows)
    outcomes = [outcome for outcome, _ in rows]
    if outcomes != ["retry", "retry", "dead"]:
        raise Failure(f"attempt outcomes are {outcomes}, expected retry, retry, dead")
    for _, text in rows:
        if "planned failure" not in text:
            raise Failure(f"an attempt does not show its error: {text}")
    step("a dead job shows its three failed attempts with their errors")
    os.remove(FAIL_FLAG)
    click(driver, 'button[data-action="retry"]')
    wait_for("the retried job done", lambda: text_of(driver, '#job-fields dd[data-field="state"]') == "done")
    step("retrying it from its page: it ran again and is done")

    # Searching by payload text.
    open_page(driver, "/jobs?queue=default&state=done")
    search = wait_for("the search box", lambda: driver.find_elements(By.ID, "jobs-search"))[0]
    search.send_keys(SEARCH_TEXT)
    click(driver, '#search button[type="submit"]')
    wait_for("the job found by its payload text", lambda: driver.find_elements(By.CSS_SELECTOR, f'#search-results tr[data-job="{SEARCH_JOB}"]'))
    if len(driver.find_elements(By.CSS_SELECTOR, "#search-results tbody tr")) != 1:
        raise Failure("the search found more than the one job whose payload holds the text")
    step("a job is found by text in its payload")

    # Cancelling a scheduled job.
    open_page(driver, f"/job/{SCHEDULED_JOB}")
    wait_for("the scheduled job's page", lambda: text_of(driver, '#job-fields dd[data-field="state"]') == "scheduled")
    click(driver, 'button[data-action="cancel"]')
    click(driver, 'button[data-action="confirm"]')
    wait_for("the cancelled job gone", lambda: api(f"/api/v1/jobs/{SCHEDULED_JOB}")[0] == 404)
    step("a scheduled job cancelled from its page is gone")

    # Pausing a queue stops jobs from starting; resuming lets them run.
    open_page(driver, "/queues")
    click(driver, '#queues tr[data-queue="default"] button[data-action="pause"]')
    wait_for("the queue shown paused", lambda: "paused" in (text_of(driver, '#queues tr[data-queue="default"]') or ""))
    if not api("/api/v1/queues")[1]["queues"][0].get("paused"):
        raise Failure("the page says paused but the API does not")
    held = host("enqueue", "test.record", json.dumps({"record": RECORD_FILE}))
    open_page(driver, "/")
    wait_for("the job enqueued while paused shown ready", lambda: count_cell(driver, "default", "ready") == "1")
    # Nothing to wait for when nothing should happen: give the host two of its fetch passes and the page
    # two refreshes to start it wrongly.
    time.sleep(11)
    if held in recorded_ids() or count_cell(driver, "default", "ready") != "1":
        raise Failure("a job started on a paused queue")
    step("a paused queue starts no job: the one enqueued stays ready")
    open_page(driver, "/queues")
    click(driver, '#queues tr[data-queue="default"] button[data-action="resume"]')
    wait_for("the held job run after resuming", lambda: held in recorded_ids())
    step("resumed: the held job ran")

    # Disabling, enabling and triggering a schedule.
    open_page(driver, "/schedules")
    click(driver, '#schedules tr[data-schedule="hourly"] button[data-action="disable"]')
    wait_for("the schedule shown disabled", lambda: "disabled" in (text_of(driver, '#schedules tr[data-schedule="hourly"]') or ""))
    if not api("/api/v1/schedules")[1]["schedules"][0].get("disabled"):
        raise Failure("the page says disabled but the API does not")
    click(driver, '#schedules tr[data-schedule="hourly"] button[data-action="enable"]')
    wait_for("the schedule shown enabled", lambda: "enabled" in (text_of(driver, '#schedules tr[data-schedule="hourly"]') or ""))
    step("a schedule disabled, then enabled again")
    before = set(recorded_ids())
    click(driver, '#schedules tr[data-schedule="hourly"] button[data-action="trigger"]')
    wait_for("'triggered' in the page", lambda: "triggered" in (text_of(driver, "#flash") or ""))
    wait_for("the triggered job run", lambda: set(recorded_ids()) - before)
    step("Run now enqueued the schedule's job and it ran")

    # Plugins and their handlers' health.
    open_page(driver, "/plugins")
    wait_for("the test plugin's handlers", lambda: driver.find_elements(By.CSS_SELECTOR, '#plugins tr[data-handler="test.record"]'))
    step("the plugins page lists the handlers")

    # Nothing but the admin server was asked for anything.
    requested = requests_of_the_dashboard(driver)
    foreign = [url for url in requested if not (url.startswith(URL + "/") or url.startswith("data:"))]
    if len(requested) < 10:
        raise Failure(f"the browser's log shows too few requests of the dashboard to judge: {requested}")
    if foreign:
        raise Failure(f"the page made requests to other hosts: {foreign[:5]}")
    step("every request of the page went to the admin server")

    # A phone-sized screen: the navigation is there and the page is not wider than the screen.
    driver.set_window_size(390, 844)
    open_page(driver, "/")
    wait_for("the overview on a narrow screen", lambda: count_cell(driver, "default", "done"))
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 1:
        raise Failure(f"on a 390px-wide screen the page is {overflow}px wider than the screen")
    step("usable on a phone-sized screen: no page-wide horizontal scrolling")
    driver.set_window_size(1280, 900)

    # Another site the signed-in operator visits cannot change anything.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AttackerPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        driver.get(f"http://localhost:{server.server_address[1]}/")
        # Its script's request ends before its form posts; the form's answer is the admin server's refusal.
        wait_for("the other site's form to post to the admin server", lambda: driver.current_url.startswith(URL + "/api/v1/queues/default/pause"))
        refusal = driver.find_element(By.TAG_NAME, "body").text
        if "cross-site" not in refusal:
            raise Failure(f"the cross-site form was not refused as cross-site: {refusal}")
        if api("/api/v1/queues")[1]["queues"][0].get("paused"):
            raise Failure("a page of another site paused the queue with the operator's cookie")
    finally:
        server.shutdown()
    step("a cross-site POST from another page changed nothing")

    # Signing out.
    open_page(driver, "/")
    click(driver, 'button[data-action="sign-out"]')
    open_page(driver, "/queues")
    wait_for("the sign-in form after signing out", lambda: driver.find_elements(By.ID, "token"))
    if "jobhost_token" in {cookie["name"] for cookie in driver.get_cookies()}:
        raise Failure("the sign-in cookie is still there after signing out")
    step("signed out: the cookie is gone and reading needs signing in again")


def main():
    with tempfile.TemporaryDirectory(prefix="jobhost-browser-") as profile:
        driver = browser(profile)
        try:
            run(driver)
        except Failure as failure:
            print(f"FAILED: {failure}", flush=True)
            print(f"page {driver.current_url}:\n{driver.find_element(By.TAG_NAME, 'body').text[:3000]}", flush=True)
            errors = [entry["message"] for entry in driver.get_log("browser")]
            if errors:
                print("browser console:\n" + "\n".join(errors[-20:]), flush=True)
            return 1
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
