"""Run the example project in subprocesses and talk to it over HTTP."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.redis_server import free_port

REPO_DIR = Path(__file__).resolve().parents[2]
PROJECT_DIR = REPO_DIR / "example_project"
MANAGE = PROJECT_DIR / "manage.py"
COMMAND_TIMEOUT = 60
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def project_env(tmp_path: Path, redis_url: str | None) -> dict[str, str]:
    """Return the environment of an example project process.

    The database, embedded server directory and mail directory live in
    ``tmp_path``, so the repository stays clean. Without ``redis_url`` the
    project uses its embedded server.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        "DJANGO_RQ_LITE_DEMO_DB": str(tmp_path / "demo.sqlite3"),
        "DJANGO_RQ_LITE_DEMO_EMBEDDED_DIR": str(tmp_path / "embedded"),
        "DJANGO_RQ_LITE_DEMO_MAIL_DIR": str(tmp_path / "mail"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run the example project's ``manage.py`` and assert that it exits 0."""
    completed = subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert completed.returncode == 0, (
        f"manage.py {' '.join(args)} exited with {completed.returncode}:\n"
        f"{completed.stdout}\n{completed.stderr}"
    )
    return completed


def run_burst_worker(env: dict[str, str]) -> subprocess.CompletedProcess:
    return manage(env, "rqworker", "default", "--burst")


class DevServer:
    """``manage.py runserver`` of the example project on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(MANAGE),
                "runserver",
                f"127.0.0.1:{self.port}",
                "--noreload",
            ],
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_answers(self.base_url + "/", timeout, self.process)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def wait_until_answers(
    url: str, timeout: float, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    opener = no_proxy_opener()
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"The server exited with code {process.returncode}")
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} seconds")


def no_proxy_opener(*handlers) -> urllib.request.OpenerDirector:
    # An empty ProxyHandler ignores http_proxy, so requests stay on 127.0.0.1.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), *handlers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie-keeping HTTP client that fills in Django's CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = no_proxy_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect()
        )

    def request(self, path: str, data: dict | None = None, referer: str = ""):
        """Send a request and return ``(status, headers, body)``.

        Redirects are not followed, so a test gets the 302 and its target.
        """
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body)
        if referer:
            request.add_header("Referer", self.base_url + referer)
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def get(self, path: str):
        return self.request(path)

    def submit(self, path: str, fields: dict, form_path: str | None = None):
        """GET the page with the form, then POST ``fields`` with its token."""
        status, _, page = self.get(form_path or path)
        assert status == 200, f"GET {form_path or path} returned {status}"
        match = CSRF_INPUT.search(page)
        assert match, f"{form_path or path} has no CSRF token"
        return self.request(
            path,
            {"csrfmiddlewaretoken": match.group(1), **fields},
            referer=form_path or path,
        )

    def login(self, username: str, password: str) -> None:
        status, _, _ = self.submit(
            "/admin/login/?next=/admin/",
            {"username": username, "password": password, "next": "/admin/"},
        )
        assert status == 302, f"admin login returned {status}"
