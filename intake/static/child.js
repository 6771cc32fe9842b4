// The child's pages work without this file; it adds a character counter, the
// kiosk's automatic reset, the receipt countdown and an instant quick exit.
(function () {
  "use strict";
  var body = document.body;
  var start = body.getAttribute("data-start") || "/";

  function clearForms() {
    var fields = document.querySelectorAll("textarea, input[type=text], input:not([type])");
    for (var i = 0; i < fields.length; i++) { fields[i].value = ""; }
    var checks = document.querySelectorAll("input[type=radio], input[type=checkbox]");
    for (var j = 0; j < checks.length; j++) { checks[j].checked = false; }
  }

  function leave() {
    clearForms();
    if (body.getAttribute("data-kiosk") === "1") {
      // The next child at the tablet starts in Chinese again.
      document.cookie = "qq_lang=; Max-Age=0; path=/; SameSite=Lax";
    }
    // replace(): the page with the words is taken out of the history, so the
    // Back button cannot bring it back.
    window.location.replace(start);
  }

  // At a kiosk the history never grows: every link replaces the current page,
  // so Back (and Back then Reload) can never bring a sent letter or a reply
  // code up again for the next child.
  if (body.getAttribute("data-kiosk") === "1") {
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[href]") : null;
      if (!link || link.id === "quick-exit" || link.target) { return; }
      if (link.origin !== window.location.origin) { return; }
      event.preventDefault();
      clearForms();
      window.location.replace(link.href);
    });
  }

  // Quick exit: clears at once, without waiting for the server.
  var exit = document.getElementById("quick-exit");
  if (exit) {
    exit.addEventListener("click", function (event) { event.preventDefault(); leave(); });
  }

  // A page restored from the back-forward cache must not show old words.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { clearForms(); window.location.replace(start); }
  });

  // Character counter.
  var text = document.getElementById("text");
  var counter = document.getElementById("counter");
  if (text && counter) {
    var max = parseInt(counter.getAttribute("data-max"), 10);
    var template = counter.getAttribute("data-template");
    var update = function () {
      counter.textContent = template.replace("{n}", String(text.value.length)).replace("{max}", String(max));
      counter.classList.toggle("near-limit", text.value.length > max * 0.9);
    };
    text.addEventListener("input", update);
    update();
  }

  // The receipt goes back to the start by itself (the meta refresh does the
  // same without JavaScript); this shows the seconds left.
  var countdown = document.getElementById("receipt-countdown");
  if (countdown) {
    var left = parseInt(countdown.getAttribute("data-seconds"), 10);
    var sentence = countdown.textContent;
    var tick = function () {
      countdown.textContent = sentence.replace(/\d+/, String(left));
      if (left <= 0) { leave(); return; }
      left -= 1;
      window.setTimeout(tick, 1000);
    };
    tick();
    var done = document.getElementById("written-down");
    if (done) { done.addEventListener("click", function (event) { event.preventDefault(); leave(); }); }
  }

  // Kiosk: after a while without a touch, warn, then clear everything.
  if (body.getAttribute("data-kiosk") === "1" && !countdown) {
    var idle = parseInt(body.getAttribute("data-idle"), 10) * 1000;
    var warn = parseInt(body.getAttribute("data-warn"), 10);
    var dialog = document.getElementById("idle-warning");
    var count = document.getElementById("idle-count");
    var idleTimer = null, warnTimer = null, remaining = warn;
    var isStart = window.location.pathname === start;

    var showCount = function () {
      if (count) { count.textContent = count.getAttribute("data-template").replace("{n}", String(remaining)); }
    };
    var stopWarning = function () {
      if (warnTimer) { window.clearInterval(warnTimer); warnTimer = null; }
      if (dialog) { dialog.hidden = true; }
    };
    var showWarning = function () {
      remaining = warn;
      showCount();
      if (dialog) { dialog.hidden = false; }
      warnTimer = window.setInterval(function () {
        remaining -= 1;
        showCount();
        if (remaining <= 0) { stopWarning(); leave(); }
      }, 1000);
    };
    var activity = function () {
      stopWarning();
      if (idleTimer) { window.clearTimeout(idleTimer); }
      idleTimer = window.setTimeout(showWarning, Math.max(idle - warn * 1000, 1000));
    };
    if (!isStart) {
      ["input", "keydown", "pointerdown", "touchstart", "scroll"].forEach(function (name) {
        document.addEventListener(name, activity, { passive: true });
      });
      var stay = document.getElementById("idle-stay");
      if (stay) { stay.addEventListener("click", activity); }
      activity();
    }
  }

  // One tap sends once: the button waits after the first press (the server
  // also refuses a second letter with the same form token).
  var form = document.getElementById("letter-form");
  if (form) {
    form.addEventListener("submit", function () {
      var send = document.getElementById("send");
      if (send) { window.setTimeout(function () { send.disabled = true; }, 0); }
    });
  }
})();
