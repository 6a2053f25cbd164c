// Live parts of the setup wizard: every element with data-live-src is
// refreshed from that URL every few seconds with the HTML fragment the server
// renders for it. Pages work without this script: reloading shows the same.
//
// Screen readers hear only what changed in meaning: the text of elements
// marked data-live-announce (a step's status line, the flag banner's title),
// spoken through the page's one role="status" element (data-live-announcer).
// Times such as "(2 minutes ago)" update quietly.
(function () {
  "use strict";

  var INTERVAL = 5000;
  var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live-src]"));
  if (!regions.length || !window.fetch) {
    return;
  }
  var announcer = document.querySelector("[data-live-announcer]");
  var timer = null;
  var stopped = false;

  function squash(text) {
    return text.replace(/\s+/g, " ").trim();
  }

  function announcements(root) {
    return Array.prototype.map.call(root.querySelectorAll("[data-live-announce]"), function (el) {
      return squash(el.textContent);
    });
  }

  function showCopyButtons(region) {
    // app.js reveals copy buttons once, at load; do it for new content too.
    region.querySelectorAll("[data-copy-target]").forEach(function (button) {
      button.hidden = false;
    });
  }

  function focusInside(region) {
    return region.contains(document.activeElement) && document.activeElement !== document.body;
  }

  function apply(region, html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    if (squash(region.textContent) === squash(template.content.textContent)) {
      return; // nothing a reader would see changed
    }
    if (focusInside(region)) {
      return; // keep the keyboard where it is; update next time
    }
    var before = announcements(region).join(" ");
    region.innerHTML = html;
    showCopyButtons(region);
    var after = announcements(region);
    if (announcer && after.length && after.join(" ") !== before) {
      announcer.textContent = after.join(". ");
    }
  }

  function refresh(region) {
    return fetch(region.getAttribute("data-live-src"), {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html" },
    }).then(function (response) {
      // A redirect means the session ended (sign-in page) or access changed:
      // stop instead of pasting another page in.
      if (response.redirected || response.status === 401 || response.status === 403) {
        stopped = true;
        return null;
      }
      if (!response.ok) {
        return null; // a passing server error: try again next time
      }
      return response.text();
    }).then(function (html) {
      if (html !== null) {
        apply(region, html);
      }
    });
  }

  function schedule() {
    window.clearTimeout(timer);
    if (!stopped && !document.hidden) {
      timer = window.setTimeout(tick, INTERVAL);
    }
  }

  function tick() {
    Promise.all(regions.map(function (region) {
      return refresh(region).catch(function () {
        return null; // offline for a moment: keep the last content
      });
    })).then(schedule);
  }

  // Stop polling while the tab is hidden; catch up at once when it is back.
  document.addEventListener("visibilitychange", function () {
    window.clearTimeout(timer);
    if (!document.hidden && !stopped) {
      tick();
    }
  });

  schedule();
})();
