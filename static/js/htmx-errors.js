/*
 * Every htmx request that fails shows a message where its result would go, never nothing.
 *
 * htmx swaps nothing for a 4xx or 5xx answer, and nothing when no answer comes
 * (network error, timeout): the button just came back. This shows a short
 * message in the request's target instead: in place of its content when the
 * request would have replaced it (innerHTML, the result boxes), above it
 * otherwise (outerHTML, the credential fields), so what was typed stays.
 * An answer marked "X-Error-Message: true" (the CSRF failure fragment) is the
 * server's own message for that place and is swapped in as it is.
 * No dependencies beyond htmx's events; no CDN.
 */
(function () {
  "use strict";

  function describe(status) {
    if (status === 401 || status === 403) {
      return ["Not allowed (HTTP " + status + ")",
        "Your session may have changed, or your account lacks the permission. Reload the page and try again."];
    }
    if (status === 404) {
      return ["Not found (HTTP 404)", "It may have been deleted meanwhile. Reload the page."];
    }
    if (status === 429) {
      return ["Too many requests (HTTP 429)", "Wait a moment, then try again."];
    }
    if (status >= 500) {
      return ["The server could not answer (HTTP " + status + ")",
        "Try again in a moment; if it keeps failing, tell an administrator."];
    }
    return ["The request was refused (HTTP " + status + ")", "Reload the page and try again."];
  }

  function swapStyle(elt) {
    var owner = elt && elt.closest ? elt.closest("[hx-swap]") : null;
    var style = owner ? owner.getAttribute("hx-swap") : "";
    return (style || "innerHTML").split(" ")[0];
  }

  function show(detail, title, text) {
    var target = detail.target || detail.elt;
    if (!target) {
      return;
    }
    var box = document.createElement("div");
    box.className = "alert alert--error htmx-error";
    box.setAttribute("role", "alert");
    box.setAttribute("data-outcome", "request_failed");
    var head = document.createElement("p");
    var strong = document.createElement("strong");
    strong.textContent = title;
    head.appendChild(strong);
    var body = document.createElement("p");
    body.textContent = text;
    box.appendChild(head);
    box.appendChild(body);
    if (swapStyle(detail.elt) === "innerHTML") {
      target.replaceChildren(box);
    } else {
      var old = target.querySelector(":scope > .htmx-error");
      if (old) {
        old.remove();
      }
      target.prepend(box);
    }
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (event.detail.isError && xhr && xhr.getResponseHeader("X-Error-Message") === "true") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    var message = describe(event.detail.xhr ? event.detail.xhr.status : 0);
    show(event.detail, message[0], message[1]);
  });
  document.addEventListener("htmx:sendError", function (event) {
    show(event.detail, "No answer from the server",
      "Check your network connection, then try again.");
  });
  document.addEventListener("htmx:timeout", function (event) {
    show(event.detail, "The server took too long to answer", "Try again in a moment.");
  });
})();
