// The customer's page: the damaged parts tapped on a car diagram, one guided photo per part plus the whole car,
// resized in the browser, one claim per submission however often it is sent, the answer in words, and a retake
// of exactly the photo or part the service asks for.
"use strict";

(() => {
  const { api, el, price, when, t, statusText, partLabel, clear } = AQ;
  const LONG_SIDE = Number(document.body.dataset.uploadLongSide) || 1600;
  const MIN_SIDE = 480; // the service's minimum short side of a photo
  const JPEG_QUALITY = 0.85;
  const SUBMISSION = "autoquote.submission";
  const ACCEPT = "image/jpeg,image/png,image/webp";
  let declared = []; // the parts tapped on the diagram, as the API writes them: {part, side}
  let shots = new Map(); // step key ("whole" or a part's text form) -> the photo chosen for it
  let vocabulary = null; // the parts the service can assess (GET /v1/models); null until known
  let policies = [];
  let current = null; // the claim on show
  let busy = false;

  const textOf = (d) => (d.side ? d.part + ":" + d.side : d.part);
  const sameDeclared = (a, b) => a.part === b.part && (a.side || null) === (b.side || null);
  function fromText(text) {
    const [part, side] = text.split(":");
    return { part, side: side || null };
  }

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

  // ---- the car diagram: tap the damaged parts ------------------------------------------------------
  function diagramParts() { return [...document.querySelectorAll("#car .car-part")]; }

  function assessable(text) {
    return vocabulary === null || vocabulary.includes(fromText(text).part);
  }

  function toggle(text) {
    if (!assessable(text)) return;
    const d = fromText(text);
    const at = declared.findIndex((x) => sameDeclared(x, d));
    if (at >= 0) declared.splice(at, 1); else declared.push(d);
    document.getElementById("checks").textContent = "";
    renderDiagram();
    renderShots();
  }

  function wireDiagram() {
    for (const node of diagramParts()) {
      node.setAttribute("role", "button");
      node.setAttribute("tabindex", "0");
      node.addEventListener("click", () => toggle(node.dataset.part));
      node.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(node.dataset.part); }
      });
    }
  }

  function renderDiagram() {
    for (const node of diagramParts()) {
      const d = fromText(node.dataset.part);
      const label = partLabel(d.part, d.side);
      const on = declared.some((x) => sameDeclared(x, d));
      const usable = assessable(node.dataset.part);
      node.setAttribute("aria-pressed", String(on));
      node.setAttribute("aria-label", usable ? label : t("damage.unavailable", { part: label }));
      if (usable) node.removeAttribute("aria-disabled"); else node.setAttribute("aria-disabled", "true");
      node.setAttribute("tabindex", usable ? "0" : "-1");
      let title = node.querySelector("title");
      if (!title) { title = document.createElementNS("http://www.w3.org/2000/svg", "title"); node.prepend(title); }
      title.textContent = node.getAttribute("aria-label");
    }
    const list = document.getElementById("declared");
    clear(list);
    if (!declared.length) list.append(el("li", { class: "muted small", text: t("damage.none") }));
    for (const d of declared) {
      const label = partLabel(d.part, d.side);
      list.append(el("li", { class: "declared-part", "data-part": textOf(d) }, el("span", { text: label }),
        el("button", { type: "button", class: "link small", "aria-label": t("damage.remove", { part: label }), text: "×",
          onclick: () => toggle(textOf(d)) })));
    }
  }

  // ---- the guided capture: the whole car, then one close-up per declared part ----------------------
  function steps() {
    return [{ key: "whole", part: null }, ...declared.map((d) => ({ key: textOf(d), part: d }))];
  }
  function stepTitle(step, index) {
    return step.part ? t("shot.part.title", { n: index + 1, part: partLabel(step.part.part, step.part.side) })
      : t("shot.whole.title");
  }
  function stepHint(part) {
    return part ? t("shot.part.hint", { part: partLabel(part.part, part.side) }) : t("shot.whole.hint");
  }
  function shotOf(key) {
    if (!shots.has(key)) shots.set(key, { prepared: null, pending: null, error: "", name: "" });
    return shots.get(key);
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
    steps().forEach((step, i) => {
      const shot = shotOf(step.key);
      const title = stepTitle(step, i);
      const input = el("input", { type: "file", id: "shot-" + i, class: "visually-hidden", accept: ACCEPT,
        "data-kind": step.part ? "part" : "whole", "data-part": step.part ? step.key : null,
        onchange: (e) => { if (e.target.files[0]) choose(shot, e.target.files[0]); } });
      const preview = shot.prepared
        ? el("img", { class: "preview", src: shot.prepared.url, alt: title })
        : el("span", { class: "camera", "aria-hidden": "true", text: shot.pending ? "…" : "+" });
      list.append(el("li", { class: "shot" + (shot.prepared ? " done" : "") + (shot.error ? " bad" : ""),
        "data-kind": step.part ? "part" : "whole", "data-part": step.part ? step.key : null },
        el("label", { for: "shot-" + i, class: "shot-pick" }, preview,
          el("span", { class: "shot-text" },
            el("strong", { text: title }),
            el("span", { class: "small muted", text: stepHint(step.part) }),
            el("span", { class: "small link-like", text: shot.prepared ? t("shot.change") : t("shot.take") }))),
        input,
        shot.error ? el("p", { class: "error small shot-error", role: "alert", text: shot.error }) : null));
    });
  }

  // ---- jurisdictions, the parts the service knows, earlier claims -------------------------------------
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

  async function loadModels() {
    const models = await api("GET", "/v1/models");
    policies = models.policies;
    vocabulary = models.parts && models.parts.length ? models.parts : null;
    declared = declared.filter((d) => assessable(textOf(d)));
    renderJurisdictions();
    renderDiagram();
    renderShots();
  }

  async function loadClaims() {
    const page = await api("GET", "/v1/claims?limit=50");
    const list = document.getElementById("my-claims");
    clear(list);
    if (!page.items.length) list.append(el("li", { class: "muted", text: t("claims.none") }));
    // What a customer recognises: when, which parts, how much and where it stands (the id stays in the link).
    for (const c of page.items) {
      const parts = c.parts.length ? c.parts.map((p) => partLabel(p, null)).join(t("summary.parts.separator"))
        : t("claims.parts.none");
      const waiting = c.status === "submitted" && c.photo_count === 0;
      list.append(el("li", {}, el("button", { type: "button", class: "claim-item", "data-claim": c.id, onclick: () => show(c.id, true) },
        el("span", { class: "claim-when" }, el("strong", { class: "claim-date", text: when(c.created_at) }),
          el("span", { class: "claim-parts small", text: parts }),
          el("span", { class: "claim-amount muted small",
            text: c.total === null ? t("claims.amount.none") : price(c.total, c.currency) })),
        el("span", { class: "status status-" + (waiting ? "no_photos" : c.status),
          text: waiting ? t("status.no_photos") : statusText(c.status) }))));
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
    if (photo && photo.part) return t("shot.part.title", { n: index + 1, part: partLabel(photo.part.part, photo.part.side) });
    if (photo && /^whole_/.test(photo.filename)) return t("shot.whole.title");
    return t("photo.number", { n: index + 1 });
  }

  function thumb(claim, photo, extraClass) {
    const img = el("img", { alt: photoLabel(claim, photo.id), class: "thumb" + (extraClass ? " " + extraClass : "") });
    AQ.photoURL(claim.id, photo.id).then((url) => { img.src = url; }).catch(() => {});
    return img;
  }

  // The plain reasons of the service's summary (at most three); the adjuster sees the full list.
  function reasonList(claim) {
    const said = claim.summary ? claim.summary.reasons : [];
    return el("ul", { class: "reasons", id: "summary-reasons" }, said.map((text) => el("li", { text })));
  }

  function outcome(claim) {
    const quote = claim.quote;
    const review = claim.review;
    if (review) {
      const approved = review.outcome === "approved";
      return el("div", { class: "decision decided decided-" + review.outcome, id: "outcome" },
        el("p", { class: "headline", text: approved ? t("result.approved", { amount: price(review.amount, review.currency) })
          : t("result.rejected") }),
        review.comment ? el("p", { class: "comment", id: "review-comment", text: t("result.comment", { comment: review.comment }) }) : null,
        el("p", { class: "next", text: claim.summary ? claim.summary.next : t("result." + review.outcome + ".next") }));
    }
    if (claim.status === "withdrawn") {
      return el("div", { class: "decision", id: "outcome", "data-decision": "withdrawn" }, el("p", { text: t("result.withdrawn") }));
    }
    if (!quote && !claim.photos.length) { // say what is true: nothing has been received yet
      return el("div", { class: "decision", id: "outcome", "data-decision": "no_photos" }, el("p", { text: t("result.nophotos.next") }));
    }
    if (!quote) return el("div", { class: "decision", id: "outcome" }, el("p", { text: t("result.submitted") }));
    if (quote.decision === "auto_settle") {
      return el("div", { class: "decision offer", id: "outcome", "data-decision": quote.decision },
        el("p", { class: "headline", text: t("result.offer", { amount: price(quote.total, quote.currency) }) }),
        el("p", { class: "next", text: t("result.offer.next") }));
    }
    if (quote.decision === "human_review") {
      const undeclared = quote.reasons.filter((r) => r.code === "undeclared_damage");
      const answerable = claim.status === "in_review" && undeclared.length && quote.source === "model";
      return el("div", { class: "decision review", id: "outcome", "data-decision": quote.decision },
        el("p", { class: "headline", text: t("result.review") }),
        el("p", { class: "small muted", text: t("result.review.because") }),
        reasonList(claim),
        answerable ? undeclaredAnswer(claim, undeclared) : null,
        el("p", { class: "next", text: t("result.review.next") }));
    }
    return retake(claim);
  }

  // Damage found on a part the claim does not declare: the customer may add it, then the claim is assessed again.
  function undeclaredAnswer(claim, reasons) {
    const error = el("p", { class: "error", role: "alert" });
    const parts = [...new Set(reasons.map((r) => r.params.part))];
    async function add(part, button) {
      if (busy) return;
      busy = true;
      button.disabled = true;
      error.textContent = "";
      try {
        const body = { declared_parts: [...claim.declared_parts, { part, side: null }] };
        await api("PUT", "/v1/claims/" + claim.id + "/declared-parts", body);
        progress(100, t("progress.assessing"));
        render(await api("POST", "/v1/claims/" + claim.id + "/assess"));
        loadClaims();
      } catch (e) {
        error.textContent = e instanceof AQ.ApiError ? e.message : t("error.network");
        button.disabled = false;
      } finally {
        busy = false;
        progress(null);
      }
    }
    return el("div", { class: "undeclared", id: "undeclared" },
      parts.map((part) => el("button", { type: "button", class: "big", "data-part": part,
        text: t("result.undeclared.add", { part: partLabel(part, null) }), onclick: (e) => add(part, e.currentTarget) })),
      error);
  }

  // One step per photo to replace or close-up to add, as the service lists them (claim.retake), each with the
  // old photo if there is one, what a good photo shows, and a control to take the new one.
  function retake(claim) {
    const quote = claim.quote;
    const groups = new Map(); // one step per photo, or per part without a photo, or one for a closer photo
    for (const item of claim.retake) {
      const key = item.photo_id || (item.part ? textOf(item.part) : "");
      if (!groups.has(key)) groups.set(key, { key, photoId: item.photo_id, part: item.part, items: [] });
      const group = groups.get(key);
      group.items.push(item);
      if (!group.part && item.part) group.part = item.part;
    }
    const picks = new Map();
    const error = el("p", { class: "error", role: "alert", id: "retake-error" });
    const nothingSeen = claim.retake.length > 0 && claim.retake.every((i) => i.code === "no_damage_found");
    const items = [];
    let added = claim.photos.length; // a photo to add is numbered after the claim's photos
    for (const group of groups.values()) {
      const photo = group.photoId ? claim.photos.find((p) => p.id === group.photoId) : null;
      const tag = photo ? photo.part : group.part;
      const n = photo ? 0 : (added += 1);
      const title = photo ? photoLabel(claim, photo.id)
        : (tag ? t("shot.part.title", { n, part: partLabel(tag.part, tag.side) }) : t("shot.closer.title", { n }));
      const hint = tag ? stepHint(tag) : (photo ? stepHint(null) : t("shot.closer.hint"));
      const preview = el("span", { class: "retake-new" });
      const id = "retake-" + (group.photoId || "new-" + n);
      items.push(el("li", { class: "retake-item shot", "data-photo": group.photoId || "", "data-part": tag ? textOf(tag) : "" },
        el("div", { class: "retake-old" },
          photo ? thumb(claim, photo, "meant") : el("span", { class: "camera", "aria-hidden": "true", text: "+" }),
          el("div", {},
            el("strong", { class: "retake-label", text: title }),
            el("p", { class: "small muted", text: hint }))),
        el("ul", { class: "reasons retake-why" }, group.items.map((i) => el("li", { "data-code": i.code, text: i.message }))),
        el("label", { class: "button", for: id, text: t("result.retake.choose") }),
        el("input", { type: "file", id, class: "visually-hidden retake-input", accept: ACCEPT,
          onchange: (e) => pick(group, e.target.files[0], preview) }),
        preview));
    }
    function pick(group, file, preview) {
      error.textContent = "";
      if (!file) return;
      const job = prepare(file);
      picks.set(group.key, { job, name: file.name });
      clear(preview);
      job.then((p) => preview.append(el("img", { class: "thumb", src: p.url, alt: t("result.retake.choose") })),
        (e) => { picks.delete(group.key); error.textContent = e.message; });
    }
    async function send(event) {
      const button = event.currentTarget;
      if (busy) return;
      if ([...groups.keys()].some((key) => !picks.has(key))) { error.textContent = t("result.retake.missing"); return; }
      busy = true;
      button.disabled = true;
      try {
        for (const group of groups.values()) {
          const chosen = picks.get(group.key);
          const prepared = await chosen.job;
          const form = new FormData();
          if (group.photoId) {
            // The new photo takes the old one's place and keeps the part it shows.
            const old = claim.photos.find((p) => p.id === group.photoId);
            form.append("file", prepared.blob, old.filename || "photo.jpg");
            await api("PUT", "/v1/claims/" + claim.id + "/photos/" + encodeURIComponent(group.photoId), form);
          } else {
            if (group.part) form.append("part", textOf(group.part));
            form.append("files", prepared.blob, (group.part ? "part_" : "closeup_") + (chosen.name || "photo.jpg"));
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
    if (!items.length) { // every photo asked for is in: the claim waits for its quote
      return el("div", { class: "decision", id: "outcome", "data-decision": "submitted" },
        el("p", { text: t("result.submitted") }), error,
        el("button", { type: "button", class: "primary big", id: "retake-send", text: t("submit"), onclick: send }));
    }
    return el("div", { class: "decision retake", id: "outcome", "data-decision": quote.decision },
      el("p", { class: "headline", text: nothingSeen ? t("result.nodamage") : t("result.retake", { count: items.length }) }),
      el("p", { class: "next", text: nothingSeen ? t("result.nodamage.next") : t("result.retake.next") }),
      el("ol", { class: "retake-list" }, items),
      error,
      el("button", { type: "button", class: "primary big", id: "retake-send", text: t("result.retake.send"), onclick: send }));
  }

  // The parts the customer declared, each with what the photos showed of it.
  function declaredList(claim) {
    if (!claim.declared_parts.length) return null;
    const checks = (claim.quote && claim.quote.verification) ? claim.quote.verification.parts : [];
    return el("div", { class: "declared-result", id: "declared-result" },
      el("h3", { text: t("result.declared") }),
      el("ul", { class: "declared" }, claim.declared_parts.map((d) => {
        const check = checks.find((c) => sameDeclared(c, d));
        const state = check ? check.status : null;
        return el("li", { class: "declared-part" + (state ? " " + state : ""), "data-part": textOf(d), "data-status": state || "" },
          el("span", { text: partLabel(d.part, d.side) }),
          state ? el("span", { class: "small muted", text: t("part.status." + state) }) : null);
      })));
  }

  function quoteTable(quote) {
    if (!quote || !quote.line_items.length) return null;
    const op = (o) => (AQ.has("op." + o) ? t("op." + o) : o);
    return el("div", { class: "quote", id: "quote" },
      el("h3", { text: t("quote.title") }),
      el("table", { class: "lines" },
        el("thead", {}, el("tr", {}, el("th", { text: t("quote.part") }), el("th", { text: t("quote.work") }),
          el("th", { class: "num", text: t("quote.amount") }))),
        el("tbody", {}, quote.line_items.map((l) => el("tr", {}, el("td", { text: partLabel(l.part, null) }), el("td", { text: op(l.operation) }),
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
      el("span", { class: "status status-" + claim.status, id: "claim-status", "data-status": claim.status,
        text: claim.status === "submitted" && !claim.photos.length ? t("status.no_photos") : statusText(claim.status) })));
    if (claim.description) root.append(el("p", { class: "description", text: claim.description }));
    root.append(outcome(claim));
    const list = declaredList(claim);
    if (list) root.append(list);
    // A quote that waits for a retake is about to change; a rejected claim has none to show.
    const retaking = claim.status === "retake_requested" || (claim.quote && claim.quote.decision === "retake_photos");
    if (!retaking && claim.status !== "withdrawn" && !(claim.review && claim.review.outcome === "rejected")) {
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

  function resetCapture() {
    declared = [];
    shots = new Map();
    renderDiagram();
    renderShots();
  }

  function startNew() {
    document.getElementById("claim").hidden = true;
    document.getElementById("new").hidden = false;
    current = null;
    resetCapture();
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

  // XMLHttpRequest, not fetch: only it reports upload progress. `key` makes a retry after a lost answer replay it.
  function upload(claimId, form, onProgress, key) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/v1/claims/" + encodeURIComponent(claimId) + "/photos");
      xhr.setRequestHeader("Authorization", "Bearer " + AQ.key());
      xhr.setRequestHeader("Accept-Language", AQ.lang());
      xhr.setRequestHeader("Idempotency-Key", key);
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
      // Checks first: no claim is opened for photos the page can already tell are unusable or missing.
      const wanted = steps();
      const pending = wanted.map((s) => shotOf(s.key)).filter((s) => s.pending);
      for (let i = 0; i < pending.length; i++) {
        progress(0, t("progress.preparing", { done: i + 1, total: pending.length }));
        await pending[i].pending;
      }
      if (!declared.length) throw new CheckError(t("check.parts"));
      const bad = wanted.map((s) => shotOf(s.key)).find((s) => s.error);
      if (bad) throw new CheckError(bad.error);
      for (const step of wanted) {
        if (shotOf(step.key).prepared) continue;
        throw new CheckError(step.part ? t("check.part", { part: partLabel(step.part.part, step.part.side) }) : t("check.whole"));
      }
      const [jurisdiction, region] = form.elements.jurisdiction.value.split("|");
      const body = { region, jurisdiction, segment: form.elements.segment.value, description: form.elements.description.value,
        declared_parts: declared.map((d) => ({ part: d.part, side: d.side })) };
      let sub = savedSubmission();
      if (sub && !Array.isArray(sub.sent)) sub = null; // kept by an earlier version of this page
      if (!sub || (!sub.claimId && JSON.stringify(sub.body) !== JSON.stringify(body))) {
        sub = { key: AQ.uuid(), body, claimId: null, sent: [] };
        saveSubmission(sub);
      }
      if (!sub.claimId) {
        progress(5, t("progress.opening"));
        const claim = await api("POST", "/v1/claims", sub.body, { "Idempotency-Key": sub.key });
        sub.claimId = claim.id;
        saveSubmission(sub);
      }
      // One upload per step, each close-up with its part; a step sent before (a retry) is not sent again.
      const todo = wanted.filter((s) => !sub.sent.includes(s.key));
      for (let i = 0; i < todo.length; i++) {
        const step = todo[i];
        const shot = shotOf(step.key);
        const data = new FormData();
        if (step.part) data.append("part", step.key);
        data.append("files", shot.prepared.blob, (step.part ? "part_" : "whole_") + (shot.name || "photo.jpg"));
        await upload(sub.claimId, data, (f) => {
          const done = (i + f) / todo.length;
          progress(10 + Math.round(done * 80), t("progress.uploading", { percent: Math.round(done * 100) }));
        }, sub.key + ":" + step.key);
        sub.sent.push(step.key);
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
    renderDiagram();
    renderShots();
    if (policies.length) renderJurisdictions();
    if (!document.getElementById("customer").hidden) {
      loadClaims();
      if (current) show(current.id, false);
    }
  }

  wireDiagram();
  document.getElementById("new-claim").addEventListener("submit", submit);
  document.getElementById("refresh").addEventListener("click", () => { loadClaims(); if (current) show(current.id, false); });
  AQ.initLang(relabel).then(() => AQ.signIn(async () => { await api("GET", "/v1/claims?limit=1"); }, () => {
    document.getElementById("customer").hidden = false;
    loadModels();
    loadClaims();
  }));
})();
