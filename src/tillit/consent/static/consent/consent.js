/* tillit cookie consent: nothing optional runs before the visitor chooses.
   On tillit's pages the server renders the dialog and a JSON config (#cc-config): the stored,
   verified choice (or none), the categories, GPC as the server saw it, and the Google tag (when
   configured). Every choice is posted to the server, which keeps the proof and sets the
   consent cookie.
   On an operator's own site this file comes inside /embed/banner.js, which sets
   window.TILLIT_CC first: the dialog in both languages, the API's address, and no tag of ours
   (the site loads its own Google tag, after this script: consent mode's defaults come first).
   There the choice's signed token is kept in a first-party cookie of the site. */
(function () {
  "use strict";
  var d = document;
  var config = window.TILLIT_CC || JSON.parse(d.getElementById("cc-config").textContent);
  var embedded = !!config.embedded;
  var lang = "nb";
  var dialog = null;
  var ga = config.ga;
  var gpc = config.gpc || navigator.globalPrivacyControl === true;
  var opener = null;

  if (embedded) {
    var me = d.currentScript;
    lang = (me && me.dataset.lang) || (d.documentElement.lang || "").slice(0, 2);
    lang = lang === "en" ? "en" : "nb";
    config.state = stored();
  }
  var granted = config.state ? config.state.granted : [];

  /* The site's own cookie holds the token of the last choice; its payload (before the first
     colon) says what was granted under which banner. The server checks the signature when
     the token comes back with the next choice. */
  function stored() {
    var pair = ("; " + d.cookie).split("; " + config.cookie + "=")[1];
    if (!pair) return null;
    var token = pair.split(";")[0];
    try {
      var data = JSON.parse(atob(token.split(":")[0].replace(/-/g, "+").replace(/_/g, "/")));
      /* Kept even when the banner has changed: the next choice, sent with it, continues this
         browser's history (as the cookie does on tillit's own pages). */
      config.token = token;
      if (data.v !== config.version) return null;
      return { id: data.i.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5"),
        granted: data.g.filter(function (c) { return config.categories.indexOf(c) >= 0; }) };
    } catch (e) {
      return null;
    }
  }
  function reloadOnce() {
    var key = "tillit-stale-" + config.version;
    try {
      if (sessionStorage.getItem(key)) return false;
      sessionStorage.setItem(key, "1");
    } catch (e) {
      return false;
    }
    return true;
  }
  function keep(stored) {
    config.token = stored.token;
    d.cookie = config.cookie + "=" + stored.token + "; Max-Age=" + stored.max_age +
      "; Path=/; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }

  function $(selector) { return dialog.querySelectorAll(selector); }
  function has(category) { return granted.indexOf(category) >= 0; }

  /* Google's consent mode (v2): the defaults go first, then the stored choice; on tillit's
     pages the tag itself loads only after consent, on an operator's site the site loads it. */
  if (ga) {
    window.dataLayer = window.dataLayer || [];
    window.gtag = window.gtag || function () { window.dataLayer.push(arguments); };
    var defaults = googleState([]);
    if (embedded) defaults.wait_for_update = 500;
    gtag("consent", "default", defaults);
    gtag("set", "ads_data_redaction", true);
    if (embedded && config.state) gtag("consent", "update", googleState(granted));
  }
  function googleState(list) {
    var analytics = list.indexOf("analytics") >= 0 ? "granted" : "denied";
    return { ad_storage: "denied", ad_user_data: "denied", ad_personalization: "denied",
      analytics_storage: analytics };
  }
  function loadGoogle() {
    if (!ga.id) return;
    window["ga-disable-" + ga.id] = false;
    if (ga.loaded) return;
    ga.loaded = true;
    gtag("js", new Date());
    gtag("config", ga.id, { allow_google_signals: false, allow_ad_personalization_signals: false });
    var tag = d.createElement("script");
    tag.async = true;
    tag.src = ga.src + "?id=" + encodeURIComponent(ga.id);
    d.head.appendChild(tag);
  }

  /* Gated scripts: <script type="text/plain" data-category="analytics" [data-src]>. */
  function runGated() {
    d.querySelectorAll('script[type="text/plain"][data-category]').forEach(function (old) {
      if (!has(old.dataset.category)) return;
      var run = d.createElement("script");
      if (old.dataset.src) run.src = old.dataset.src; else run.text = old.text;
      if (old.nonce) run.nonce = old.nonce;
      old.replaceWith(run);
    });
    /* Embeds: a click-to-load placeholder until their category is granted. */
    d.querySelectorAll("[data-embed-src]").forEach(function (holder) {
      if (!has(holder.dataset.category)) return;
      var frame = d.createElement("iframe");
      frame.src = holder.dataset.embedSrc;
      frame.title = holder.dataset.embedTitle || "";
      frame.className = "cc-frame";
      holder.replaceWith(frame);
    });
  }

  /* Without analytics consent, the analytics cookies the site can reach go at once (on this
     host and every parent domain, where Google's tag puts them). */
  function forgetAnalytics() {
    if (ga && ga.id) window["ga-disable-" + ga.id] = true;
    var host = location.hostname.split(".");
    d.cookie.split(";").forEach(function (pair) {
      var name = pair.split("=")[0].trim();
      if (name !== "_ga" && name.indexOf("_ga_") !== 0) return;
      for (var i = 0; i < host.length; i++) {
        var domain = host.slice(i).join(".");
        d.cookie = name + "=; Max-Age=0; path=/; domain=" + domain;
      }
      d.cookie = name + "=; Max-Age=0; path=/";
    });
  }

  function apply(list) {
    var withdrawn = granted.some(function (c) { return list.indexOf(c) < 0; });
    granted = list;
    if (ga) gtag("consent", "update", googleState(list));
    if (!has("analytics")) forgetAnalytics();
    else if (ga) loadGoogle();
    $("input[data-category]").forEach(function (box) { box.checked = has(box.dataset.category); });
    /* What already runs (a tag, a partner's frame) is stopped by loading the page afresh. */
    if (withdrawn) location.reload();
    else runGated();
  }

  function send(action, source, list, retried) {
    var body = { action: action, source: source, granted: list, version: config.version };
    if (config.state) body.consent_id = config.state.id;
    var headers = { "Content-Type": "application/json" };
    if (embedded) {
      /* No cookie goes to tillit from the site: the token says which browser this is. */
      if (config.token) body.token = config.token;
      body.language = lang;
    } else {
      headers["X-CSRFToken"] = config.csrf;
    }
    return fetch(config.url, {
      method: "POST", credentials: embedded ? "omit" : "same-origin",
      headers: headers, body: JSON.stringify(body)
    }).then(function (answer) {
      return answer.json().then(function (data) {
        if (answer.ok) return data;
        /* The settings changed while the page was open: ask again, with the new banner; once
           per version only, so that processes that disagree for a moment cannot loop. */
        if (data.error === "stale" && reloadOnce()) location.reload();
        /* The browser no longer holds its consent cookie: answer as a new browser. */
        if (data.error === "wrong_id" && !retried) {
          config.state = null;
          config.token = null;
          return send(action === "withdraw" ? "reject_all" : action, source, list, true);
        }
        throw new Error("consent not recorded: " + data.error);
      });
    }).then(function (stored) {
      if (embedded) keep(stored);
      config.state = { id: stored.consent_id, granted: stored.granted };
      apply(stored.granted);
      return stored;
    });
  }

  function expand(open) {
    $(".cc-choose")[0].hidden = !open;
    $("[data-cc=save]")[0].hidden = !open;
    $("[data-cc=choose]")[0].setAttribute("aria-expanded", open);
    $("[data-cc=choose]")[0].hidden = open;
  }
  function show(fromLink) {
    opener = fromLink || null;
    dialog.hidden = false;
    dialog.classList.toggle("cc-gpc-on", gpc);
    $(".cc-failed")[0].hidden = true;
    expand(!!fromLink);
    dialog.focus();
  }
  function hide() {
    dialog.hidden = true;
    (opener || d.getElementById("main") || d.body).focus();
  }

  function choose(what) {
    var all = config.categories;
    if (what === "choose") {
      expand(true);
      $("input[data-category]")[0].focus();
      return;
    }
    var source = opener ? "settings" : "banner";
    var list = what === "accept" ? all.slice() : [];
    var action = what === "accept" ? "accept_all" : "reject_all";
    if (what === "save") {
      list = [];
      $("input[data-category]").forEach(function (box) {
        if (box.checked) list.push(box.dataset.category);
      });
      action = list.length === all.length ? "accept_all" : list.length ? "custom" : "reject_all";
    }
    if (config.state && config.state.granted.length && !list.length) action = "withdraw";
    $(".cc-failed")[0].hidden = true;
    send(action, source, list).then(hide, function () {
      $(".cc-failed")[0].hidden = false;
    });
  }

  function start() {
    if (embedded) {
      var style = d.createElement("link");
      style.rel = "stylesheet";
      style.href = config.css;
      d.head.appendChild(style);
      var holder = d.createElement("div");
      holder.innerHTML = config.html[lang];
      /* The dialog itself, not whatever else on the site might be called #cc. */
      dialog = holder.querySelector(".cc");
      d.body.appendChild(dialog);
      /* "Which cookies, and why" opens the categories here: tillit's own cookie page would
         set tillit's choice, not this site's. */
      var why = dialog.querySelector("#cc-text a");
      if (why) {
        why.href = "#cc-choose";
        why.addEventListener("click", function (event) {
          event.preventDefault();
          choose("choose");
        });
      }
    } else {
      dialog = d.getElementById("cc");
    }
    dialog.addEventListener("click", function (event) {
      var button = event.target.closest("[data-cc]");
      if (button) choose(button.dataset.cc);
    });
    dialog.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && opener) hide();
    });
    d.addEventListener("click", function (event) {
      var link = event.target.closest("[data-cc-open]");
      if (link) { event.preventDefault(); show(link); return; }
      var load = event.target.closest("[data-embed-load]");
      if (load) {
        event.preventDefault();
        var holder = load.closest("[data-embed-src]");
        var list = granted.concat([holder.dataset.category]);
        send(list.length === config.categories.length ? "accept_all" : "custom", "embed", list)
          .then(function () {
            var frame = d.querySelector("iframe.cc-frame");
            if (frame) { frame.tabIndex = 0; frame.focus(); }
          }, function () { holder.querySelector(".cc-failed").hidden = false; });
      }
    });

    if (config.state) {
      apply(granted);
    } else if (gpc) {
      /* GPC is a "no" to everything optional, recorded as such, and shown; never consent. */
      var shown = function () { show(null); };
      send("reject_all", "gpc", []).then(shown, shown);
    } else {
      show(null);
    }
  }

  /* In a site's <head>, the dialog waits for the page's body. */
  if (embedded && !d.body) d.addEventListener("DOMContentLoaded", start);
  else start();
})();
