// Copy buttons of the setup page: each button[data-copy] copies the text of the element
// whose id it names. The buttons stay hidden without script. Served inline under a
// Content Security Policy that allows this exact script (by its hash) and nothing else.
(function () {
  "use strict";
  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  // Pages served over plain http (not localhost) have no Clipboard API: copy the
  // selection instead.
  function copyBySelection(el) {
    selectText(el);
    try {
      return document.execCommand("copy");
    } catch (e) {
      return false;
    }
  }
  function done(button, ok) {
    var status = document.getElementById("copy-status");
    var label = button.getAttribute("data-label");
    button.textContent = ok ? "Copied" : "Select and copy by hand";
    if (status) {
      status.textContent = ok ? "Copied the " + label + " to the clipboard." : "Could not copy the " + label + "; it is selected: copy it by hand.";
    }
    window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
  }
  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    var el = document.getElementById(button.getAttribute("data-copy"));
    if (!el) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = el.textContent.trim();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          function () { done(button, true); },
          function () { done(button, copyBySelection(el)); });
      } else {
        done(button, copyBySelection(el));
      }
    });
  });
})();
