// Auto-refresh of the job counts on the dashboard's queues and job list pages.
// It polls the counts endpoint named by data-rq-counts-url while the toggle is
// on (remembered in localStorage), skips polls while the tab is hidden, and
// stops when the endpoint returns 404 (the queue is gone) or denies access.
"use strict";
(function() {
    const STORAGE_KEY = "django_rq_lite.autoRefresh";
    const INTERVAL_MS = 5000;

    function readSetting() {
        try {
            return window.localStorage.getItem(STORAGE_KEY) === "on";
        } catch (error) {
            return false;
        }
    }

    function writeSetting(isOn) {
        try {
            window.localStorage.setItem(STORAGE_KEY, isOn ? "on" : "off");
        } catch (error) {
            // Private browsing may forbid storage; the toggle still works.
        }
    }

    function updateQueueRows(queues, setStatus) {
        document.querySelectorAll("tr[data-rq-queue]").forEach(function(row) {
            const data = queues[row.dataset.rqQueue];
            if (!data) {
                row.classList.add("rq-lite-gone");
                return;
            }
            row.querySelectorAll("td[data-rq-list]").forEach(function(cell) {
                const count = cell.querySelector(".rq-lite-count");
                const list = cell.dataset.rqList;
                const value = list === "workers" ? data.workers : data.counts[list];
                if (count && value !== undefined && value !== null) {
                    count.textContent = String(value);
                }
            });
        });
        setStatus("Counts updated at " + new Date().toLocaleTimeString() + ".");
    }

    function updateListCount(element, queues, setStatus) {
        const data = queues[element.dataset.rqQueue];
        if (!data || data.error) {
            setStatus("Cannot read queue " + element.dataset.rqQueue + ".");
            return;
        }
        const count = data.counts[element.dataset.rqList];
        if (String(count) === element.dataset.rqCount) {
            setStatus("No change at " + new Date().toLocaleTimeString() + ".");
            return;
        }
        setStatus("The list now holds " + count + " jobs. ", true);
    }

    function start(element) {
        const url = element.dataset.rqCountsUrl;
        const status = element.querySelector(".rq-lite-refresh-status");
        const label = document.createElement("label");
        const toggle = document.createElement("input");
        toggle.type = "checkbox";
        toggle.checked = readSetting();
        label.appendChild(toggle);
        label.appendChild(document.createTextNode(" Auto-refresh counts "));
        element.insertBefore(label, status);
        element.hidden = false;
        let timer = null;

        function setStatus(text, withReload) {
            status.textContent = text;
            if (withReload) {
                const link = document.createElement("a");
                link.href = window.location.href;
                link.textContent = "Reload";
                status.appendChild(link);
            }
        }

        function stop(text) {
            window.clearInterval(timer);
            timer = null;
            toggle.checked = false;
            toggle.disabled = true;
            setStatus(text);
        }

        function poll() {
            if (document.hidden) {
                return;
            }
            fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
                .then(function(response) {
                    if (response.status === 404) {
                        stop("The queue no longer exists, so auto-refresh stopped.");
                        return null;
                    }
                    if (!response.ok || response.redirected) {
                        stop("Auto-refresh stopped: the server answered " + response.status + ".");
                        return null;
                    }
                    return response.json();
                })
                .then(function(body) {
                    if (!body) {
                        return;
                    }
                    if (element.dataset.rqList) {
                        updateListCount(element, body.queues, setStatus);
                    } else {
                        updateQueueRows(body.queues, setStatus);
                    }
                })
                .catch(function() {
                    setStatus("Auto-refresh failed; it tries again in a few seconds.");
                });
        }

        function apply() {
            writeSetting(toggle.checked);
            window.clearInterval(timer);
            timer = null;
            if (toggle.checked) {
                poll();
                timer = window.setInterval(poll, INTERVAL_MS);
            } else {
                setStatus("");
            }
        }

        toggle.addEventListener("change", apply);
        apply();
    }

    function ready() {
        document.querySelectorAll(".rq-lite-refresh[data-rq-counts-url]").forEach(start);
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", ready);
    } else {
        ready();
    }
})();
