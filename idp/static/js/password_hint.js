// Password hint on the sign-up and password pages: counts characters as the citizen types
// (the texts come from the page's data- attributes, already in the citizen's language).
// Only length here; "too common" and "your own CCCD/phone/birthdate" are checked by the server.
(function () {
  "use strict";
  var hint = document.getElementById("password-hint");
  if (!hint) { return; }
  var input = document.querySelector("input[aria-describedby~='password-hint']");
  if (!input) { return; }
  var MIN = 8, MAX = 256, GOOD = 15;
  function length(value) {
    // Characters as people count them: NFC, and an accented letter or emoji is one.
    var text = value.normalize ? value.normalize("NFC") : value;
    return Array.from ? Array.from(text).length : text.length;
  }
  function update() {
    var n = length(input.value);
    var text;
    if (n === 0) { text = hint.dataset.empty; }
    else if (n < MIN) { text = hint.dataset.short.replace("{n}", String(MIN - n)); }
    else if (n > MAX) { text = hint.dataset.long; }
    else if (n < GOOD) { text = hint.dataset.ok; }
    else { text = hint.dataset.good; }
    if (hint.textContent !== text) { hint.textContent = text; }
  }
  input.addEventListener("input", update);
})();
