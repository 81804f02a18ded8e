// Keyboard shortcuts of the review page; the page works without them.
(function () {
  "use strict";

  function typing(element) {
    return element && (element.tagName === "INPUT" || element.tagName === "TEXTAREA" ||
      element.tagName === "SELECT" || element.isContentEditable);
  }

  function follow(id) {
    var link = document.getElementById(id);
    if (link && link.getAttribute("href")) {
      window.location.assign(link.getAttribute("href"));
      return true;
    }
    return false;
  }

  function press(id) {
    var button = document.getElementById(id);
    if (button && !button.disabled) {
      button.click();
      return true;
    }
    return false;
  }

  function edit() {
    var input = document.getElementById("value");
    if (input && !input.disabled) {
      input.focus();
      input.select();
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.isComposing) {
      return;
    }
    if (typing(event.target)) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        press("save");
      } else if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey) {
      return;
    }
    var handled = false;
    switch (event.key) {
      case "n": case "j": handled = follow("next"); break;
      case "p": case "k": handled = follow("prev"); break;
      case "a": handled = press("accept"); break;
      case "s": handled = press("save"); break;
      case "e": case "/": handled = edit(); break;
      case "q": handled = follow("queue"); break;
      case "?":
        var keys = document.getElementById("keys");
        if (keys) { keys.open = !keys.open; handled = true; }
        break;
    }
    if (handled) {
      event.preventDefault();
    }
  });

  var evidence = document.querySelector("#source-lines .evidence");
  if (evidence) {
    evidence.scrollIntoView({block: "center"});
    window.scrollTo(0, 0);
  }
})();
