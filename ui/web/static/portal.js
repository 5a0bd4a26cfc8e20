// Enhancements only: every page works without this file.
(function () {
  "use strict";

  // "Lyssna": read the main text aloud in the page's language, when the
  // browser has a voice for it.
  var box = document.getElementById("listen");
  var synth = window.speechSynthesis;
  if (box && synth && window.SpeechSynthesisUtterance) {
    var lang = (document.documentElement.lang || "sv").toLowerCase();
    var voiceFor = function () {
      var voices = synth.getVoices();
      for (var i = 0; i < voices.length; i++) {
        if (voices[i].lang.toLowerCase().indexOf(lang.split("-")[0]) === 0) return voices[i];
      }
      return null;
    };
    var addButton = function () {
      if (box.firstChild || !voiceFor()) return;
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = box.getAttribute("data-label");
      b.addEventListener("click", function () {
        if (synth.speaking) {
          synth.cancel();
          b.textContent = box.getAttribute("data-label");
          return;
        }
        var main = document.getElementById("main").cloneNode(true);
        var skip = main.querySelectorAll("form, #listen, script");
        for (var i = 0; i < skip.length; i++) skip[i].parentNode.removeChild(skip[i]);
        var u = new SpeechSynthesisUtterance(main.textContent.replace(/\s+/g, " ").trim());
        u.lang = lang;
        u.voice = voiceFor();
        u.rate = 0.9;
        u.onend = function () { b.textContent = box.getAttribute("data-label"); };
        b.textContent = box.getAttribute("data-stop");
        synth.speak(u);
      });
      box.appendChild(b);
    };
    addButton();
    if ("onvoiceschanged" in synth) synth.addEventListener("voiceschanged", addButton);
  }

  // Live freshness: when the node says something changed, fetch this page
  // again and swap in its live block.
  var live = document.getElementById("live");
  if (live && live.getAttribute("data-live") && window.EventSource && window.fetch && window.DOMParser) {
    var busy = false;
    var refresh = function () {
      if (busy) return;
      busy = true;
      fetch(location.href, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("live");
          if (fresh) live.innerHTML = fresh.innerHTML;
        })
        .catch(function () {})
        .then(function () { busy = false; });
    };
    var es = new EventSource(live.getAttribute("data-live"));
    es.onmessage = refresh;
  }
})();
