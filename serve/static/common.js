// Shared by the customer page and the adjuster workspace: the API key, JSON calls, DOM building.
// Every value from the API reaches the page through textContent or canvas text, never as HTML.
"use strict";

const AQ = (() => {
  const KEY = "autoquote.key";

  const LANG_KEY = "autoquote.lang";
  const LANGS = ["en", "zh-CN"];
  let lang = "en";
  let catalogue = {};
  const langListeners = [];

  function pickLang() {
    const saved = localStorage.getItem(LANG_KEY);
    if (LANGS.includes(saved)) return saved;
    for (const tag of navigator.languages || [navigator.language || "en"]) {
      const t = String(tag).toLowerCase();
      if (t === "zh" || t.startsWith("zh-cn") || t.startsWith("zh-hans") || t.startsWith("zh-sg")) return "zh-CN";
      if (t === "en" || t.startsWith("en-")) return "en";
    }
    return "en";
  }

  // t("quote.interval", {total: "1,800"}): the message in the page's language, {names} filled in.
  function t(name, params) {
    const template = catalogue[name];
    if (template === undefined) return name;
    return template.replace(/\{(\w+)\}/g, (whole, p) => (params && params[p] !== undefined ? String(params[p]) : whole));
  }
  function has(name) { return Object.prototype.hasOwnProperty.call(catalogue, name); }

  // Static text carries data-i18n="key" (textContent) or data-i18n-aria="key" (aria-label).
  function translatePage() {
    document.documentElement.lang = lang;
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-aria]")) node.setAttribute("aria-label", t(node.dataset.i18nAria));
    const title = document.documentElement.dataset.i18nTitle;
    if (title) document.title = t(title);
    for (const button of document.querySelectorAll(".lang-switch button")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
    }
  }

  async function setLang(value, remember) {
    const wanted = LANGS.includes(value) ? value : "en";
    const response = await fetch("/static/locales/" + wanted + ".json");
    catalogue = await response.json();
    lang = wanted;
    if (remember) localStorage.setItem(LANG_KEY, wanted);
    translatePage();
    for (const listener of langListeners) listener(lang);
  }

  // Load the catalogue, wire the switch in the top bar; `onChange` re-renders what the script drew.
  async function initLang(onChange) {
    if (onChange) langListeners.push(onChange);
    for (const button of document.querySelectorAll(".lang-switch button")) {
      button.addEventListener("click", () => setLang(button.dataset.lang, true));
    }
    await setLang(pickLang(), false);
  }

  function key() { return sessionStorage.getItem(KEY) || ""; }
  function setKey(value) { sessionStorage.setItem(KEY, value); }
  function clearKey() { sessionStorage.removeItem(KEY); }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(method, path, body, extraHeaders) {
    const headers = { Authorization: "Bearer " + key(), "Accept-Language": lang, ...(extraHeaders || {}) };
    const init = { method, headers };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
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

  // A random UUID; crypto.randomUUID exists only in secure contexts (https, localhost), getRandomValues everywhere.
  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
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

  // One money format per language, the API's too (serve/http/locale.py money): the number with thousands
  // separators, then the currency as the catalogue words it (1,800 CNY / 1,800 元).
  function amount(value, currency, digits) {
    if (value === null || value === undefined) return "—";
    const n = Number(value).toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    if (!currency) return n;
    return n + " " + (has("currency." + currency) ? t("currency." + currency) : currency);
  }
  // An adjuster's amount: with cents.
  function money(value, currency) { return amount(value, currency, 2); }
  // A customer's amount: whole units.
  function price(value, currency) { return amount(value, currency, 0); }

  function when(iso) {
    if (!iso) return "";
    return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
  }

  function age(iso) {
    const minutes = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
    if (minutes < 60) return t("age.minutes", { n: minutes });
    if (minutes < 60 * 48) return t("age.hours", { n: Math.round(minutes / 60) });
    return t("age.days", { n: Math.round(minutes / 1440) });
  }

  function reasonTitle(code) { return has("reason.title." + code) ? t("reason.title." + code) : code; }
  // A part as the customer reads it, with its side when one is given: "left Door", 左侧车门.
  function partLabel(part, side) {
    const name = has("part." + part) ? t("part." + part) : part;
    if (!side) return name;
    return t("part.sided", { side: has("side." + side) ? t("side." + side) : side, part: name });
  }
  function statusText(status) { return has("status." + status) ? t("status." + status) : status; }
  // A word of the vocabulary (an operation, a severity, a segment, an audit action...) in the page's language.
  function word(kind, value) { return has(kind + "." + value) ? t(kind + "." + value) : String(value); }
  const REASON_CODES = ["low_confidence", "over_limit", "severe_damage", "wide_interval", "no_damage_found", "poor_photo",
    "duplicate_photo", "model_unavailable", "pipeline_error", "retake_limit", "policy_not_calibrated", "declared_not_found",
    "undeclared_damage", "adjuster_check"];

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
      who.textContent = t("signin.who", { prefix: key().slice(0, 8) });
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

  return { api, ApiError, el, money, price, when, age, reasonTitle, partLabel, statusText, word, photoURL, loadImage, signIn, clear,
    REASON_CODES, t, has, initLang, uuid, key, lang: () => lang };
})();
