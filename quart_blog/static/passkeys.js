// Passkeys in the browser (SPEC §12): add one on /account, sign in with one on /login,
// confirm it is you with one on /reauth. Each is a WebAuthn ceremony against the JSON API:
// fetch the options, let the browser ask the authenticator, POST the signed answer.
// The API's CSRF rule applies, so every call is a same-origin JSON POST. Without this
// script (or without WebAuthn) the passkey buttons stay hidden and the pages still work.
"use strict";

(function () {
  if (window.quartBlogPasskeys) {
    return; // the file is included once per page part; run it once
  }
  window.quartBlogPasskeys = true;

  var supported =
    typeof window.PublicKeyCredential === "function" &&
    !!navigator.credentials &&
    typeof navigator.credentials.create === "function";

  // --- base64url <-> bytes (WebAuthn's binary values travel as base64url in JSON) ---

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "====".slice(0, (4 - (base64.length % 4)) % 4);
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBinaryIds(descriptors) {
    return (descriptors || []).map(function (descriptor) {
      return Object.assign({}, descriptor, { id: toBytes(descriptor.id) });
    });
  }

  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: withBinaryIds(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      allowCredentials: withBinaryIds(json.allowCredentials),
    });
  }

  // The credential as the API takes it: what PublicKeyCredential.toJSON() gives, built by
  // hand where a browser lacks it.
  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") {
      return credential.toJSON();
    }
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toBase64url(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      if (typeof response.getTransports === "function") {
        json.response.transports = response.getTransports();
      }
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      if (response.userHandle) {
        json.response.userHandle = toBase64url(response.userHandle);
      }
    }
    return json;
  }

  // --- talking to the API ---

  function ApiError(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      if (response.status === 204) {
        return null;
      }
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (payload) {
          if (response.ok) {
            return payload;
          }
          var error = (payload && payload.error) || {};
          throw new ApiError(
            response.status,
            error.code || "error",
            error.message || "The server refused (" + response.status + ")."
          );
        });
    });
  }

  // What to tell the person when a ceremony fails, in words they can act on.
  function explain(error) {
    if (error instanceof ApiError) {
      return error.message;
    }
    switch (error && error.name) {
      case "NotAllowedError":
        return (
          "No passkey was used: the request was cancelled, timed out or not allowed. " +
          "Try again."
        );
      case "InvalidStateError":
        return "This device already holds a passkey for your account.";
      case "AbortError":
        return "The passkey request was interrupted. Try again.";
      case "SecurityError":
        return "This browser refused passkeys for this address.";
      case "NotSupportedError":
        return "This device cannot make a passkey of the kind this site needs.";
      case "TypeError":
        return "The server could not be reached. Check your connection and try again.";
      default:
        return "Something went wrong with the passkey. Try again.";
    }
  }

  function say(region, text, isError) {
    region.textContent = text;
    region.classList.toggle("error", !!isError);
  }

  // A same-site path only (the server checked it too): never another site.
  function safePath(path, fallback) {
    return /^\/(?![\/\\])/.test(path || "") ? path : fallback;
  }

  // --- the account page: add a passkey ---

  function formatted(iso) {
    var moment = new Date(iso);
    try {
      return new Intl.DateTimeFormat(undefined, {
        year: "numeric",
        month: "short",
        day: "numeric",
        hour: "numeric",
        minute: "2-digit",
        timeZoneName: "short",
      }).format(moment);
    } catch (error) {
      return iso;
    }
  }

  function element(tag, attributes, text) {
    var made = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      made.setAttribute(name, attributes[name]);
    });
    if (text !== undefined) {
      made.textContent = text;
    }
    return made;
  }

  // The list of passkeys, made the way the server renders it when this is the first one.
  function passkeyTable(card) {
    var table = card.querySelector("table[data-passkeys-list]");
    if (table) {
      return table;
    }
    table = element("table", { class: "sessions", "data-passkeys-list": "" });
    var head = table.createTHead().insertRow();
    ["Name", "Added", "Last used"].forEach(function (label) {
      head.appendChild(element("th", { scope: "col" }, label));
    });
    var last = head.appendChild(element("th", { scope: "col" }));
    last.appendChild(element("span", { class: "visually-hidden" }, "Remove"));
    table.createTBody();
    var empty = card.querySelector("[data-passkeys-empty]");
    empty.parentNode.replaceChild(table, empty);
    return table;
  }

  function showAdded(card, form, passkey) {
    var row = passkeyTable(card).tBodies[0].insertRow();
    row.appendChild(element("td", { "data-label": "Name" }, passkey.name));
    var added = row.appendChild(element("td", { "data-label": "Added" }));
    var when = { datetime: passkey.created_at, "data-local": "" };
    added.appendChild(element("time", when, formatted(passkey.created_at)));
    row.appendChild(element("td", { "data-label": "Last used" }, "Never"));
    // Its Remove button, a plain form like the server's (the URL differs only in the id).
    var remove = element("form", {
      method: "post",
      action: form.dataset.removeUrl.replace(/\/1\/delete$/, "/" + passkey.id + "/delete"),
    });
    var token = form.elements.csrf_token.value;
    remove.appendChild(element("input", { type: "hidden", name: "csrf_token", value: token }));
    var label = "Remove passkey " + passkey.name;
    remove.appendChild(
      element("button", { type: "submit", class: "danger", "aria-label": label }, "Remove")
    );
    row.appendChild(element("td")).appendChild(remove);
  }

  function setUpAdding(form) {
    var card = form.closest("section");
    var status = card.querySelector("[data-passkey-status]");
    var nameField = form.querySelector("input[name=passkey_name]");
    var button = form.querySelector("button[type=submit]");
    form.hidden = false;

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var name = nameField.value.trim();
      if (!name) {
        say(status, "Give the passkey a name first.", true);
        nameField.focus();
        return;
      }
      button.disabled = true;
      say(status, "Follow your browser's prompt to create the passkey…", false);
      postJSON(form.dataset.optionsUrl)
        .then(function (options) {
          return navigator.credentials.create({ publicKey: creationOptions(options) });
        })
        .then(function (credential) {
          var body = { name: name, credential: credentialJSON(credential) };
          return postJSON(form.dataset.addUrl, body);
        })
        .then(function (passkey) {
          showAdded(card, form, passkey);
          nameField.value = "";
          say(status, "Passkey “" + passkey.name + "” added. You can sign in with it now.", false);
        })
        .catch(function (error) {
          if (error instanceof ApiError && error.code === "reauth_required") {
            say(status, "Confirm it is you first; taking you there…", false);
            window.location.assign(form.dataset.reauthUrl);
            return;
          }
          say(status, "The passkey was not added. " + explain(error), true);
        })
        .then(function () {
          button.disabled = false;
        });
    });
  }

  // --- the login and re-authentication pages: use a passkey ---

  function setUpSigning(section, failure) {
    var status = section.querySelector("[data-passkey-status]");
    var button = section.querySelector("[data-passkey-start]");
    section.hidden = false;

    button.addEventListener("click", function () {
      button.disabled = true;
      say(status, "Follow your browser's prompt to use your passkey…", false);
      postJSON(section.dataset.optionsUrl)
        .then(function (options) {
          return navigator.credentials.get({ publicKey: requestOptions(options) });
        })
        .then(function (credential) {
          return postJSON(section.dataset.verifyUrl, { credential: credentialJSON(credential) });
        })
        .then(function () {
          say(status, "Done. One moment…", false);
          window.location.assign(safePath(section.dataset.next, "/"));
        })
        .catch(function (error) {
          say(status, failure + " " + explain(error), true);
          button.disabled = false;
        });
    });
  }

  function start() {
    var adding = document.querySelector("form[data-passkey-add]");
    var unavailable = document.querySelector("[data-passkey-unavailable]");
    if (!supported) {
      if (unavailable) {
        unavailable.textContent = "This browser cannot create passkeys.";
      }
      return;
    }
    if (unavailable) {
      unavailable.hidden = true;
    }
    if (adding) {
      setUpAdding(adding);
    }
    var login = document.querySelector("[data-passkey-login]");
    if (login) {
      setUpSigning(login, "You are not signed in.");
    }
    var reauth = document.querySelector("[data-passkey-reauth]");
    if (reauth) {
      setUpSigning(reauth, "That did not confirm it is you.");
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
