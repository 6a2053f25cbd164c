// Copy buttons: <button data-copy-target="element-id">Copy</button> copies the
// text (or input value) of that element. Pages work without this script: the
// values are shown as selectable text.
(function () {
  "use strict";

  function textOf(element) {
    if ("value" in element && element.value !== undefined) {
      return element.value;
    }
    return element.textContent.trim();
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Fallback for http:// pages, where the Clipboard API is unavailable.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) {
      return;
    }
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) {
      return;
    }
    var label = button.textContent;
    copyText(textOf(target)).then(
      function () {
        button.textContent = "Copied";
        button.setAttribute("data-copied", "true");
      },
      function () {
        button.textContent = "Select and copy by hand";
      }
    );
    window.setTimeout(function () {
      button.textContent = label;
      button.removeAttribute("data-copied");
    }, 2000);
  });

  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    button.hidden = false;
  });
})();
