// The customer's page: guided photos, resized in the browser, one claim per submission however often it is
// sent, the quote in words, and a retake of exactly the photo the service asks for.
"use strict";

(() => {
  const { api, el, price, when, t, reasonTitle, statusText, clear } = AQ;
  const LONG_SIDE = Number(document.body.dataset.uploadLongSide) || 1600;
  const MIN_SIDE = 480; // the service's minimum short side of a photo
  const JPEG_QUALITY = 0.85;
  const SUBMISSION = "autoquote.submission";
  let shots = [];
  let policies = [];
  let current = null; // the claim on show
  let busy = false;

  // ---- preparing photos: checks the page can do, then resize to LONG_SIDE as JPEG --------------------
  class CheckError extends Error {}

  async function sniff(file) {
    const b = new Uint8Array(await file.slice(0, 12).arrayBuffer());
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
    if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "png";
    if (b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45) return "webp";
    return null;
  }

  // The upright picture (EXIF orientation applied by the browser), scaled to LONG_SIDE, as a JPEG blob.
  async function prepare(file) {
    const name = file.name || "photo";
    if (!(await sniff(file))) throw new CheckError(t("check.type", { name }));
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (_e) {
      throw new CheckError(t("check.decode", { name }));
    }
    const short = Math.min(bitmap.width, bitmap.height);
    if (short < MIN_SIDE) {
      bitmap.close();
      throw new CheckError(t("check.small", { name, short, min: MIN_SIDE }));
    }
    const scale = Math.min(1, LONG_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
    if (!blob) throw new CheckError(t("check.decode", { name }));
    return { blob, width: canvas.width, height: canvas.height, url: URL.createObjectURL(blob) };
  }

  // ---- the guided capture --------------------------------------------------------------------------
  function newShot(kind) { return { kind, prepared: null, pending: null, error: "" }; }
  function resetShots() { shots = [newShot("whole"), newShot("closeup")]; }

  function shotTitle(shot, index) {
    return shot.kind === "whole" ? t("shot.whole.title") : t("shot.closeup.title", { n: index + 1 });
  }
  // The shot travels in the file name (the service keeps it), so a retake can say which shot it means.
  function uploadName(shot, index) {
    const original = shot.name || "photo.jpg";
    return (shot.kind === "whole" ? "whole_" : "closeup-" + index + "_") + original;
  }

  function choose(shot, file) {
    shot.error = "";
    shot.prepared = null;
    document.getElementById("checks").textContent = "";
    shot.name = file.name;
    shot.pending = prepare(file).then((prepared) => { shot.prepared = prepared; }, (e) => {
      shot.error = e instanceof CheckError ? e.message : String(e);
    }).finally(() => { shot.pending = null; renderShots(); });
    renderShots();
  }

  function renderShots() {
    const list = document.getElementById("shots");
    clear(list);
    shots.forEach((shot, i) => {
      const input = el("input", { type: "file", id: "shot-" + i, class: "visually-hidden",
        accept: "image/jpeg,image/png,image/webp", "data-kind": shot.kind,
        onchange: (e) => { if (e.target.files[0]) choose(shot, e.target.files[0]); } });
      const preview = shot.prepared
        ? el("img", { class: "preview", src: shot.prepared.url, alt: shotTitle(shot, i) })
        : el("span", { class: "camera", "aria-hidden": "true", text: shot.pending ? "…" : "📷" });
      list.append(el("li", { class: "shot" + (shot.prepared ? " done" : "") + (shot.error ? " bad" : ""), "data-kind": shot.kind },
        el("label", { for: "shot-" + i, class: "shot-pick" }, preview,
          el("span", { class: "shot-text" },
            el("strong", { text: shotTitle(shot, i) }),
            el("span", { class: "small muted", text: shot.kind === "whole" ? t("shot.whole.hint") : t("shot.closeup.hint") }),
            el("span", { class: "small link-like", text: shot.prepared ? t("shot.change") : t("shot.take") }))),
        input,
        shot.error ? el("p", { class: "error small shot-error", role: "alert", text: shot.error }) : null,
        shot.kind === "closeup" && shots.filter((s) => s.kind === "closeup").length > 1
          ? el("button", { type: "button", class: "link small", text: t("shot.remove"),
            onclick: () => { shots.splice(i, 1); renderShots(); } })
          : null));
    });
  }

  // ---- jurisdictions and earlier claims ---------------------------------------------------------------
  function policyName(p) {
    const limit = price(p.small_claim_limit, p.currency);
    const key = "jurisdiction." + p.jurisdiction;
    return AQ.has(key) ? t(key, { limit }) : t("jurisdiction.other", { name: p.description || p.jurisdiction, limit });
  }

  function renderJurisdictions() {
    const select = document.getElementById("c-jurisdiction");
    const chosen = select.value;
    clear(select);
    for (const p of policies) select.append(el("option", { value: p.jurisdiction + "|" + p.region, text: policyName(p) }));
    if (chosen) select.value = chosen;
  }

  async function loadJurisdictions() {
    policies = (await api("GET", "/v1/models")).policies;
    renderJurisdictions();
  }

  async function loadClaims() {
    const page = await api("GET", "/v1/claims?limit=50");
    const list = document.getElementById("my-claims");
    clear(list);
    if (!page.items.length) list.append(el("li", { class: "muted", text: t("claims.none") }));
    for (const c of page.items) {
      list.append(el("li", {}, el("button", { type: "button", class: "claim-item", "data-claim": c.id, onclick: () => show(c.id, true) },
        el("span", { class: "claim-when" }, el("span", { class: "mono", text: c.id.slice(0, 8) }),
          el("span", { class: "muted small", text: when(c.created_at) })),
        el("span", { class: "status status-" + c.status, text: statusText(c.status) }))));
    }
  }

  async function show(claimId, scroll) {
    render(await api("GET", "/v1/claims/" + encodeURIComponent(claimId)));
    if (scroll) document.getElementById("claim").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  // ---- the claim: decision, what happens next, quote, retake ------------------------------------------
  function photoLabel(claim, photoId) {
    const index = claim.photos.findIndex((p) => p.id === photoId);
    const photo = claim.photos[index];
    const m = photo && /^(whole|closeup-(\d+))_/.exec(photo.filename);
    if (m && m[1] === "whole") return t("shot.whole.title");
    if (m) return t("shot.closeup.title", { n: Number(m[2]) + 1 });
    return t("photo.number", { n: index + 1 });
  }

  function thumb(claim, photo, extraClass) {
    const img = el("img", { alt: photoLabel(claim, photo.id), class: "thumb" + (extraClass ? " " + extraClass : "") });
    AQ.photoURL(claim.id, photo.id).then((url) => { img.src = url; }).catch(() => {});
    return img;
  }

  function outcome(claim) {
    const quote = claim.quote;
    const review = claim.review;
    if (review && review.outcome === "approved") {
      return el("div", { class: "decision decided decided-approved", id: "outcome" },
        el("p", { class: "headline", text: t("result.approved", { amount: price(review.amount, review.currency) }) }),
        el("p", { class: "next", text: t("result.approved.next") }));
    }
    if (review) {
      return el("div", { class: "decision decided decided-rejected", id: "outcome" },
        el("p", { class: "headline", text: t("result.rejected") }), review.comment ? el("p", { text: review.comment }) : null);
    }
    if (!quote) return el("div", { class: "decision", id: "outcome" }, el("p", { text: t("result.submitted") }));
    if (quote.decision === "auto_settle") {
      return el("div", { class: "decision offer", id: "outcome", "data-decision": quote.decision },
        el("p", { class: "headline", text: t("result.offer", { amount: price(quote.total, quote.currency) }) }),
        el("p", { class: "next", text: t("result.offer.next") }));
    }
    if (quote.decision === "human_review") {
      return el("div", { class: "decision review", id: "outcome", "data-decision": quote.decision },
        el("p", { class: "headline", text: t("result.review") }),
        el("p", { class: "small muted", text: t("result.review.because") }),
        el("ul", { class: "reasons" }, quote.reasons.map((r) => el("li", { "data-code": r.code },
          el("strong", { text: reasonTitle(r.code) + ": " }), el("span", { text: r.message })))),
        el("p", { class: "next", text: t("result.review.next") }));
    }
    return retake(claim);
  }

  // One card per photo the service names (poor_photo), with its thumbnail and a control to replace it;
  // reasons that name no photo (no damage found) ask for one more close-up.
  function retake(claim) {
    const quote = claim.quote;
    const named = quote.reasons.filter((r) => r.photo_id && claim.photos.some((p) => p.id === r.photo_id));
    const byPhoto = new Map();
    for (const r of named) byPhoto.set(r.photo_id, [...(byPhoto.get(r.photo_id) || []), r]);
    const general = quote.reasons.filter((r) => !r.photo_id);
    const picks = new Map();
    const names = new Map();
    const error = el("p", { class: "error", role: "alert", id: "retake-error" });
    const items = [];
    for (const [photoId, reasons] of byPhoto) {
      const photo = claim.photos.find((p) => p.id === photoId);
      const preview = el("span", { class: "retake-new" });
      items.push(el("li", { class: "retake-item", "data-photo": photoId },
        el("div", { class: "retake-old" }, thumb(claim, photo, "meant"),
          el("div", {}, el("p", { class: "small muted", text: t("result.retake.meant") }),
            el("strong", { class: "retake-label", text: photoLabel(claim, photoId) }),
            el("ul", { class: "reasons" }, reasons.map((r) => el("li", { "data-code": r.code, text: r.message }))))),
        el("label", { class: "button", for: "retake-" + photoId, text: t("result.retake.choose") }),
        el("input", { type: "file", id: "retake-" + photoId, class: "visually-hidden retake-input", accept: "image/jpeg,image/png,image/webp",
          onchange: (e) => pick(photoId, e.target.files[0], preview) }),
        preview));
    }
    if (general.length) {
      const preview = el("span", { class: "retake-new" });
      items.push(el("li", { class: "retake-item", "data-photo": "" },
        el("ul", { class: "reasons" }, general.map((r) => el("li", { "data-code": r.code, text: r.message }))),
        el("label", { class: "button", for: "retake-extra", text: t("result.retake.choose") }),
        el("input", { type: "file", id: "retake-extra", class: "visually-hidden retake-input", accept: "image/jpeg,image/png,image/webp",
          onchange: (e) => pick("", e.target.files[0], preview) }),
        preview));
    }
    function pick(photoId, file, preview) {
      error.textContent = "";
      if (!file) return;
      const job = prepare(file);
      picks.set(photoId, job);
      names.set(photoId, file.name);
      clear(preview);
      job.then((p) => preview.append(el("img", { class: "thumb", src: p.url, alt: t("result.retake.choose") })),
        (e) => { picks.delete(photoId); error.textContent = e.message; });
    }
    async function send(event) {
      const button = event.currentTarget;
      if (busy) return;
      const wanted = [...byPhoto.keys(), ...(general.length ? [""] : [])];
      if (wanted.some((id) => !picks.has(id))) { error.textContent = t("result.retake.missing"); return; }
      busy = true;
      button.disabled = true;
      try {
        for (const photoId of wanted) {
          const prepared = await picks.get(photoId);
          const form = new FormData();
          if (photoId) {
            const old = claim.photos.find((p) => p.id === photoId);
            form.append("file", prepared.blob, old.filename || "photo.jpg");
            await api("PUT", "/v1/claims/" + claim.id + "/photos/" + encodeURIComponent(photoId), form);
          } else {
            form.append("files", prepared.blob, "closeup-" + claim.photos.length + "_" + (names.get("") || "photo.jpg"));
            await api("POST", "/v1/claims/" + claim.id + "/photos", form);
          }
        }
        progress(100, t("progress.assessing"));
        render(await api("POST", "/v1/claims/" + claim.id + "/assess"));
        loadClaims();
      } catch (e) {
        error.textContent = e instanceof AQ.ApiError ? e.message : t("error.network");
      } finally {
        busy = false;
        button.disabled = false;
        progress(null);
      }
    }
    return el("div", { class: "decision retake", id: "outcome", "data-decision": quote.decision },
      el("p", { class: "headline", text: t("result.retake", { count: items.length }) }),
      el("p", { class: "next", text: t("result.retake.next") }),
      el("ol", { class: "retake-list" }, items),
      error,
      el("button", { type: "button", class: "primary big", id: "retake-send", text: t("result.retake.send"), onclick: send }));
  }

  function quoteTable(quote) {
    if (!quote || !quote.line_items.length) return null;
    const op = (o) => (AQ.has("op." + o) ? t("op." + o) : o);
    const part = (p) => (AQ.has("part." + p) ? t("part." + p) : p);
    return el("div", { class: "quote", id: "quote" },
      el("h3", { text: t("quote.title") }),
      el("table", { class: "lines" },
        el("thead", {}, el("tr", {}, el("th", { text: t("quote.part") }), el("th", { text: t("quote.work") }),
          el("th", { class: "num", text: t("quote.amount") }))),
        el("tbody", {}, quote.line_items.map((l) => el("tr", {}, el("td", { text: part(l.part) }), el("td", { text: op(l.operation) }),
          el("td", { class: "num", text: price(l.total, quote.currency) })))),
        el("tfoot", {}, el("tr", {}, el("td", { colspan: "2", text: t("quote.total") }),
          el("td", { class: "num total", text: price(quote.total, quote.currency) })))),
      quote.low !== null && quote.high !== null
        ? el("p", { class: "interval", id: "interval", text: t("quote.interval",
          { total: price(quote.total, quote.currency), low: price(quote.low, quote.currency), high: price(quote.high, quote.currency) }) })
        : null);
  }

  function render(claim) {
    current = claim;
    const root = document.getElementById("claim");
    root.hidden = false;
    clear(root);
    root.append(el("div", { class: "section-head" },
      el("h2", { text: t("result.claim", { id: claim.id.slice(0, 8) }) }),
      el("span", { class: "status status-" + claim.status, id: "claim-status", "data-status": claim.status, text: statusText(claim.status) })));
    if (claim.description) root.append(el("p", { class: "description", text: claim.description }));
    root.append(outcome(claim));
    // A quote that waits for a retake is about to change; a rejected claim has none to show.
    const retaking = claim.quote && claim.quote.decision === "retake_photos" && !claim.review;
    if (!retaking && !(claim.review && claim.review.outcome === "rejected")) {
      const table = quoteTable(claim.quote);
      if (table) root.append(table);
    }
    root.append(el("h3", { text: t("result.photos") }),
      el("div", { class: "thumbs" }, claim.photos.map((p) => el("figure", {}, thumb(claim, p),
        el("figcaption", { class: "small", text: photoLabel(claim, p.id) })))));
    root.append(el("p", { class: "muted small", text: t("result.updated", { when: when(claim.updated_at) }) }),
      el("button", { type: "button", class: "link", id: "start-new", text: t("claims.start"), onclick: startNew }));
    document.getElementById("new").hidden = true;
  }

  function startNew() {
    document.getElementById("claim").hidden = true;
    document.getElementById("new").hidden = false;
    current = null;
    resetShots();
    renderShots();
  }

  // ---- submitting: one Idempotency-Key per submission, kept across retries ----------------------------
  function progress(percent, text) {
    const box = document.getElementById("progress");
    box.hidden = percent === null;
    if (percent === null) return;
    document.getElementById("progress-bar").value = percent;
    document.getElementById("progress-text").textContent = text;
  }

  function savedSubmission() {
    try { return JSON.parse(sessionStorage.getItem(SUBMISSION) || "null"); } catch (_e) { return null; }
  }
  function saveSubmission(s) { sessionStorage.setItem(SUBMISSION, JSON.stringify(s)); }

  // XMLHttpRequest, not fetch: only it reports upload progress.
  function upload(claimId, form, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/v1/claims/" + encodeURIComponent(claimId) + "/photos");
      xhr.setRequestHeader("Authorization", "Bearer " + AQ.key());
      xhr.setRequestHeader("Accept-Language", AQ.lang());
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (_e) { data = null; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else {
          const err = (data && data.error) || { code: "http_" + xhr.status, message: xhr.statusText };
          reject(new AQ.ApiError(xhr.status, err.code, err.message));
        }
      };
      xhr.onerror = () => reject(new TypeError("network"));
      xhr.send(form);
    });
  }

  async function submit(event) {
    event.preventDefault();
    if (busy) return; // a double tap sends once
    busy = true;
    const form = event.target;
    const button = document.getElementById("submit");
    const checks = document.getElementById("checks");
    button.disabled = true;
    checks.textContent = "";
    try {
      // Checks first: no claim is opened for photos the page can already tell are unusable.
      const pending = shots.filter((s) => s.pending);
      for (let i = 0; i < pending.length; i++) {
        progress(0, t("progress.preparing", { done: i + 1, total: pending.length }));
        await pending[i].pending;
      }
      const bad = shots.find((s) => s.error);
      if (bad) throw new CheckError(bad.error);
      if (!shots.some((s) => s.kind === "whole" && s.prepared)) throw new CheckError(t("check.whole"));
      if (!shots.some((s) => s.kind === "closeup" && s.prepared)) throw new CheckError(t("check.closeup"));
      const [jurisdiction, region] = form.elements.jurisdiction.value.split("|");
      const body = { region, jurisdiction, segment: form.elements.segment.value, description: form.elements.description.value };
      let sub = savedSubmission();
      if (!sub || (!sub.claimId && JSON.stringify(sub.body) !== JSON.stringify(body))) {
        sub = { key: AQ.uuid(), body, claimId: null, uploaded: false };
        saveSubmission(sub);
      }
      if (!sub.claimId) {
        progress(5, t("progress.opening"));
        const claim = await api("POST", "/v1/claims", sub.body, { "Idempotency-Key": sub.key });
        sub.claimId = claim.id;
        saveSubmission(sub);
      }
      const photos = shots.filter((s) => s.prepared);
      if (!sub.uploaded) {
        const existing = await api("GET", "/v1/claims/" + sub.claimId);
        if (existing.photos.length < photos.length) {
          const data = new FormData();
          photos.forEach((s) => data.append("files", s.prepared.blob, uploadName(s, shots.indexOf(s))));
          await upload(sub.claimId, data, (f) => progress(10 + Math.round(f * 80), t("progress.uploading", { percent: Math.round(f * 100) })));
        }
        sub.uploaded = true;
        saveSubmission(sub);
      }
      progress(95, t("progress.assessing"));
      const claim = await api("POST", "/v1/claims/" + sub.claimId + "/assess");
      sessionStorage.removeItem(SUBMISSION);
      form.reset();
      render(claim);
      loadClaims();
      document.getElementById("claim").scrollIntoView({ block: "start" });
    } catch (e) {
      if (e instanceof CheckError) checks.textContent = e.message;
      else checks.textContent = t("progress.failed", { error: e instanceof AQ.ApiError ? e.message : t("error.network") });
    } finally {
      progress(null);
      busy = false;
      button.disabled = false;
    }
  }

  function relabel() {
    renderShots();
    if (policies.length) renderJurisdictions();
    if (!document.getElementById("customer").hidden) {
      loadClaims();
      if (current) show(current.id, false);
    }
  }

  resetShots();
  document.getElementById("new-claim").addEventListener("submit", submit);
  document.getElementById("add-closeup").addEventListener("click", () => { shots.push(newShot("closeup")); renderShots(); });
  document.getElementById("refresh").addEventListener("click", () => { loadClaims(); if (current) show(current.id, false); });
  AQ.initLang(relabel).then(() => AQ.signIn(async () => { await api("GET", "/v1/claims?limit=1"); }, () => {
    document.getElementById("customer").hidden = false;
    loadJurisdictions();
    loadClaims();
  }));
})();
