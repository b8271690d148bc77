/* QR sign-in, desktop page: once a second, ask /qr/status for the state and the current
 * code, swap in the new QR picture once it has loaded (no flicker), and when the phone has
 * allowed the sign-in, submit the page's own "I have scanned the code" form: the server
 * finishes the sign-in for this browser only. No reload, no inline script (CSP). */
(function () {
  "use strict";
  var live = document.getElementById("qr-live");
  var doneForm = document.getElementById("qr-done-form");
  if (!live || !doneForm) { return; }
  var image = document.getElementById("qr-image");
  var statusText = document.getElementById("qr-status");
  var restartForm = document.getElementById("qr-restart-form");
  var statusUrl = live.getAttribute("data-status-url");
  var codeUrl = live.getAttribute("data-code-url");
  var OPEN = { pending: true, scanned: true };
  live.hidden = false;

  function schedule() { window.setTimeout(tick, 1000); }

  function showCode(data) {
    var next = new Image();
    next.onload = function () {
      image.src = next.src;
      image.setAttribute("data-qr-url", data.url);  // the code the picture carries
    };
    next.src = codeUrl + "?t=" + encodeURIComponent(data.t);
  }

  function end() {
    image.hidden = true;
    doneForm.hidden = true;
    if (restartForm) { restartForm.hidden = false; }
  }

  function tick() {
    fetch(statusUrl, { credentials: "same-origin", cache: "no-store",
                       headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.message) { statusText.textContent = data.message; }
        if (data.status === "approved") {
          doneForm.submit();
          return;
        }
        if (OPEN[data.status]) {
          showCode(data);
          schedule();
          return;
        }
        end();
      })
      .catch(schedule);  // a dropped connection: try again next second
  }

  tick();
}());
