// Shared by the customer page and the adjuster workspace: the API key, JSON calls, DOM building.
// Every value from the API reaches the page through textContent or canvas text, never as HTML.
"use strict";

const AQ = (() => {
  const KEY = "autoquote.key";

  const REASONS = {
    low_confidence: "Low confidence",
    over_limit: "Over the small-claim limit",
    severe_damage: "Possibly severe damage",
    wide_interval: "Uncertain price",
    no_damage_found: "No damage found",
    poor_photo: "Photo needs a retake",
    duplicate_photo: "Photo seen in another claim",
    model_unavailable: "A model was unavailable",
    pipeline_error: "Assessment step failed",
  };

  const STATUS = {
    submitted: "Submitted — photos received, not assessed yet",
    retake_requested: "Please retake some photos",
    assessed: "Quote ready",
    in_review: "With an adjuster",
    approved: "Approved",
    rejected: "Rejected",
    withdrawn: "Withdrawn",
  };

  function key() { return sessionStorage.getItem(KEY) || ""; }
  function setKey(value) { sessionStorage.setItem(KEY, value); }
  function clearKey() { sessionStorage.removeItem(KEY); }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + key() };
    const init = { method, headers };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method === "POST" && path === "/v1/claims") headers["Idempotency-Key"] = crypto.randomUUID();
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_e) { data = null; }
    if (!response.ok) {
      const err = (data && data.error) || { code: "http_" + response.status, message: response.statusText };
      throw new ApiError(response.status, err.code, err.message);
    }
    return data;
  }

  // el("div", {class: "x", text: "..."}, child, "text") — strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "value") node.value = value;
      else if (name === "checked" || name === "disabled" || name === "selected" || name === "hidden") node[name] = Boolean(value);
      else node.setAttribute(name, String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function money(value, currency) {
    if (value === null || value === undefined) return "—";
    const n = Number(value).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    return currency ? n + " " + currency : n;
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function age(iso) {
    const minutes = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
    if (minutes < 60) return minutes + " min";
    if (minutes < 60 * 48) return Math.round(minutes / 60) + " h";
    return Math.round(minutes / 1440) + " d";
  }

  function reasonTitle(code) { return REASONS[code] || code; }
  function statusText(status) { return STATUS[status] || status; }

  const photoCache = new Map();
  // <img src> cannot send the key, so photos are fetched with it and shown from a blob: URL.
  async function photoURL(claimId, photoId) {
    const id = claimId + "/" + photoId;
    if (!photoCache.has(id)) {
      const response = await fetch("/v1/claims/" + encodeURIComponent(claimId) + "/photos/" + encodeURIComponent(photoId),
        { headers: { Authorization: "Bearer " + key() } });
      if (!response.ok) throw new ApiError(response.status, "photo_unavailable", "the photo could not be loaded");
      photoCache.set(id, URL.createObjectURL(await response.blob()));
    }
    return photoCache.get(id);
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image);
      image.onerror = () => reject(new Error("the photo could not be decoded"));
      image.src = url;
    });
  }

  // Wire the sign-in form; `check` calls the API with the key and throws if the key cannot be used here.
  function signIn(check, onReady) {
    const form = document.getElementById("sign-in-form");
    const section = document.getElementById("sign-in");
    const error = document.getElementById("sign-in-error");
    const who = document.getElementById("who");
    const out = document.getElementById("sign-out");
    async function start() {
      try {
        await check();
      } catch (e) {
        clearKey();
        section.hidden = false;
        if (e instanceof ApiError) error.textContent = e.message;
        return;
      }
      section.hidden = true;
      who.textContent = "key " + key().slice(0, 8) + "…";
      out.hidden = false;
      onReady();
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      error.textContent = "";
      setKey(form.elements.key.value.trim());
      form.reset();
      start();
    });
    out.addEventListener("click", () => { clearKey(); location.reload(); });
    if (key()) start(); else section.hidden = false;
  }

  function clear(node) { node.replaceChildren(); }

  return { api, ApiError, el, money, when, age, reasonTitle, statusText, photoURL, loadImage, signIn, clear, REASONS };
})();
