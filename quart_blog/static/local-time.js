// Shows every <time datetime="..."> in the reader's own time zone and language.
// The server writes UTC ("2026-01-01 09:30 UTC"): that text moves to the title (a tooltip),
// and the datetime attribute keeps the exact UTC value. Without this script, UTC stays.
"use strict";

(function () {
  var HAS_TIME = /T\d{2}:\d{2}/;
  var HAS_ZONE = /(Z|[+-]\d{2}:?\d{2})$/i;
  var format;
  try {
    format = new Intl.DateTimeFormat(undefined, {
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "numeric",
      minute: "2-digit",
      timeZoneName: "short",
    });
  } catch (error) {
    return; // no Intl: the UTC text stays
  }

  function localize(element) {
    var value = (element.getAttribute("datetime") || "").trim();
    if (!HAS_TIME.test(value) || element.hasAttribute("data-local")) {
      return; // a bare date has no time zone; a time already shown locally is left alone
    }
    var moment = new Date(HAS_ZONE.test(value) ? value : value + "Z"); // the server speaks UTC
    if (isNaN(moment.getTime())) {
      return;
    }
    var utcText = element.textContent.trim();
    if (utcText && !element.title) {
      element.title = utcText;
    }
    element.textContent = format.format(moment);
    element.setAttribute("data-local", "");
  }

  function localizeAll() {
    var times = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      localize(times[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", localizeAll);
  } else {
    localizeAll();
  }
})();
