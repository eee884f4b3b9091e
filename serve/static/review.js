// The adjuster's workspace: queue, claim view with box overlays, box and line-item edits, approve / reject.
"use strict";

(() => {
  const { api, el, money, when, age, reasonTitle, statusText, word, clear } = AQ;
  const partName = (part) => AQ.partLabel(part, null);
  const COSTS = [["parts_cost", "rv.col.parts"], ["labour_cost", "rv.col.labour"], ["refinish_cost", "rv.col.refinish"],
    ["materials_cost", "rv.col.materials"]];
  const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#0a9396", "#c71585", "#808000"];
  const state = { claimId: null, view: null, showBoxes: true, editors: [], unsavedLines: null };

  function colour(part, parts) {
    const i = Math.max(0, parts.indexOf(part));
    return PALETTE[i % PALETTE.length];
  }

  // ---- queue ---------------------------------------------------------------------------------
  function fillReasonFilter() {
    const select = document.getElementById("f-reason");
    const chosen = select.value;
    clear(select);
    select.append(el("option", { value: "", text: AQ.t("review.any") }));
    for (const code of AQ.REASON_CODES) select.append(el("option", { value: code, text: reasonTitle(code) }));
    select.value = chosen;
  }

  async function loadQueue() {
    const form = document.getElementById("queue-filter");
    const params = new URLSearchParams();
    for (const name of ["reason", "min_total", "max_total"]) {
      const value = form.elements[name].value.trim();
      if (value) params.set(name, value);
    }
    const page = await api("GET", "/v1/review/queue?" + params.toString());
    document.getElementById("queue-count").textContent = String(page.count);
    const list = document.getElementById("queue-list");
    clear(list);
    if (!page.items.length) list.append(el("li", { class: "muted", text: AQ.t("rv.empty") }));
    for (const item of page.items) {
      const button = el("button", { type: "button", class: "queue-item" + (item.id === state.claimId ? " active" : ""),
        "data-claim": item.id, onclick: () => openClaim(item.id) },
        el("span", { class: "q-top" },
          el("span", { class: "mono", text: item.id.slice(0, 8) }),
          el("span", { class: "muted", text: AQ.t("rv.ago", { age: age(item.created_at) }) })),
        el("span", { class: "q-total", text: money(item.total, item.currency) }),
        el("span", { class: "chips" }, item.reasons.map((r) => el("span", { class: "chip", text: reasonTitle(r) }))),
        item.edited ? el("span", { class: "badge", text: AQ.t("rv.edited") }) : null);
      list.append(el("li", {}, button));
    }
    AQ.autonomyPanel();
  }

  // ---- claim view ------------------------------------------------------------------------------
  async function openClaim(claimId) {
    state.claimId = claimId;
    const view = await api("GET", "/v1/review/claims/" + encodeURIComponent(claimId));
    render(view);
    for (const node of document.querySelectorAll(".queue-item")) {
      node.classList.toggle("active", node.dataset.claim === claimId);
    }
  }

  function section(title, ...children) {
    return el("section", { class: "card" }, el("h3", { text: title }), ...children);
  }

  function showError(where, error) {
    where.textContent = error instanceof AQ.ApiError ? error.message + " (" + error.code + ")" : String(error);
  }

  function render(view) {
    state.view = view;
    const { claim } = view;
    const quote = claim.quote;
    const closed = claim.status !== "in_review" && claim.status !== "assessed";
    const root = document.getElementById("claim");
    clear(root);
    root.append(el("div", { class: "claim-head card" },
      el("div", {},
        el("h2", {}, AQ.t("rv.claim") + " ", el("span", { class: "mono", text: claim.id })),
        el("p", { class: "muted", text: [claim.region, claim.jurisdiction, word("segment", claim.segment),
          AQ.t("rv.opened", { when: when(claim.created_at) })].join(" · ") })),
      el("span", { class: "status status-" + claim.status, text: statusText(claim.status) }),
      claim.description ? el("p", { class: "description", text: claim.description }) : null));
    if (claim.review) root.append(reviewSummary(claim.review));
    // A blind review shows nothing the model proposed: the adjuster prices the photos and the declared parts.
    const blind = view.blind;
    if (blind) root.append(el("p", { id: "blind-note", class: "card muted", text: AQ.t("rv.blind") }));
    if (quote && quote.reasons.length && !blind) {
      root.append(section(AQ.t("rv.why"),
        el("ul", { class: "reasons" }, quote.reasons.map((r) => el("li", {},
          el("strong", { text: reasonTitle(r.code) }), " ", el("span", { text: r.message }))))));
    }
    const declared = declaredSection(view);
    if (declared) root.append(declared);
    root.append(photosSection(view, closed));
    if (quote && !blind) root.append(findingsSection(view));
    if (quote || blind) root.append(lineItemsSection(view, closed));
    if ((quote || blind) && !closed) root.append(decisionSection(view));
    if (quote) root.append(versionsSection(quote, view.model_quote));
    root.append(auditSection(view.audit));
  }

  function reviewSummary(review) {
    const text = review.outcome === "approved"
      ? AQ.t("rv.approved_for", { amount: money(review.amount, review.currency) })
      : AQ.t("rv.rejected");
    return el("section", { class: "card decided decided-" + review.outcome },
      el("strong", { text: text }), " ", el("span", { class: "muted", text: when(review.at) }),
      review.comment ? el("p", { text: review.comment }) : null);
  }

  // ---- declared against found, part by part ----------------------------------------------------
  function photoName(claim, photoId) {
    const index = claim.photos.findIndex((p) => p.id === photoId);
    if (index < 0) return photoId ? String(photoId).slice(0, 8) : "—";
    const photo = claim.photos[index];
    const kind = photo.part ? AQ.t("rv.closeup", { part: AQ.partLabel(photo.part.part, photo.part.side) }) : AQ.t("rv.wide");
    return AQ.t("photo.number", { n: index + 1 }) + " · " + kind;
  }

  function declaredSection(view) {
    const { claim } = view;
    const quote = view.blind ? null : view.model_quote || claim.quote;
    const check = quote ? quote.verification : null;
    if (!claim.declared_parts.length && !check) return null;
    const rows = [];
    const status = (s) => el("span", { class: "sev " + (s === "confirmed" ? "sev-minor" : "sev-severe"), text: AQ.t("rv.status." + s) });
    if (check) {
      for (const p of check.parts) {
        const key = p.side ? p.part + ":" + p.side : p.part;
        rows.push(el("tr", { "data-part": key, "data-status": p.status },
          el("td", { text: AQ.partLabel(p.part, p.side) }), el("td", {}, status(p.status)),
          el("td", { text: photoName(claim, p.photo_id) }),
          el("td", { class: "num", text: p.score === null ? "—" : p.score.toFixed(2) })));
      }
      for (const u of check.undeclared) {
        rows.push(el("tr", { "data-part": u.part, "data-status": "undeclared" },
          el("td", { text: AQ.partLabel(u.part, null) }),
          el("td", {}, el("span", { class: "sev sev-moderate", text: AQ.t("rv.status.undeclared") })),
          el("td", { text: photoName(claim, u.photo_id) }), el("td", { class: "num", text: u.score.toFixed(2) })));
      }
    } else {
      for (const d of claim.declared_parts) {
        rows.push(el("tr", { "data-part": d.side ? d.part + ":" + d.side : d.part },
          el("td", { text: AQ.partLabel(d.part, d.side) }), el("td", { class: "muted", text: "—" }), el("td", {}), el("td", {})));
      }
    }
    return section(AQ.t("rv.declared"),
      el("table", { id: "declared-check" },
        el("thead", {}, el("tr", {}, [AQ.t("quote.part"), AQ.t("rv.col.status"), AQ.t("rv.col.photo"), AQ.t("rv.col.score")]
          .map((h) => el("th", { text: h })))),
        el("tbody", {}, rows)),
      check ? el("p", { class: "muted small", text: AQ.t("rv.threshold", { threshold: check.threshold }) }) : null);
  }

  // ---- photos and boxes ------------------------------------------------------------------------
  function photosSection(view, closed) {
    state.editors = [];
    const toggle = el("button", { type: "button", id: "toggle-boxes", "aria-pressed": String(state.showBoxes),
      text: state.showBoxes ? AQ.t("rv.boxes.hide") : AQ.t("rv.boxes.show") });
    toggle.addEventListener("click", () => {
      state.showBoxes = !state.showBoxes;
      toggle.textContent = state.showBoxes ? AQ.t("rv.boxes.hide") : AQ.t("rv.boxes.show");
      toggle.setAttribute("aria-pressed", String(state.showBoxes));
      for (const editor of state.editors) editor.draw();
    });
    const grid = el("div", { class: "photos" });
    const boxesByPhoto = Object.fromEntries(view.boxes.map((b) => [b.photo_id, b]));
    for (const photo of view.claim.photos) {
      grid.append(photoEditor(view, photo, boxesByPhoto[photo.id] || { boxes: [], corrected: false }, closed));
    }
    return el("section", { class: "card" }, el("div", { class: "section-head" }, el("h3", { text: AQ.t("rv.photos") }), toggle), grid);
  }

  function photoEditor(view, photo, entry, closed) {
    const parts = view.parts.length ? view.parts : [...new Set(entry.boxes.map((b) => b.part))];
    const ed = { boxes: entry.boxes.map((b) => ({ ...b, box: [...b.box] })), selected: -1, drawing: false, dirty: false,
      image: null, scale: 1, drag: null };
    const canvas = el("canvas", { class: "photo-canvas", "data-photo": photo.id, width: 10, height: 10 });
    const status = el("span", { class: "muted small" });
    const partSelect = el("select", { class: "box-part", "aria-label": AQ.t("rv.box.part"), disabled: true },
      parts.map((p) => el("option", { value: p, text: partName(p) })));
    const del = el("button", { type: "button", class: "box-delete", text: AQ.t("rv.box.delete"), disabled: true });
    const draw = el("button", { type: "button", class: "box-draw", text: AQ.t("rv.box.draw"), "aria-pressed": "false", disabled: closed });
    const save = el("button", { type: "button", class: "box-save primary", text: AQ.t("rv.box.save"), disabled: true });
    const error = el("p", { class: "error" });

    function changed() {
      ed.dirty = true;
      save.disabled = closed;
      status.textContent = AQ.t("rv.unsaved");
      draw_();
    }
    function select(i) {
      ed.selected = i;
      partSelect.disabled = closed || i < 0;
      del.disabled = closed || i < 0;
      if (i >= 0) partSelect.value = ed.boxes[i].part;
      draw_();
    }
    function draw_() {
      const ctx = canvas.getContext("2d");
      if (!ed.image) return;
      ctx.drawImage(ed.image, 0, 0, canvas.width, canvas.height);
      if (!state.showBoxes) return;
      const all = ed.drag ? [...ed.boxes, { part: partSelect.value || parts[0] || "?", box: ed.drag, score: null }] : ed.boxes;
      all.forEach((b, i) => {
        const [x1, y1, x2, y2] = b.box.map((v) => v * ed.scale);
        const c = colour(b.part, parts);
        ctx.lineWidth = i === ed.selected ? 4 : 2;
        ctx.strokeStyle = c;
        ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
        const label = partName(b.part) + (b.score !== null && b.score !== undefined ? " " + b.score.toFixed(2) : "");
        ctx.font = "13px system-ui, sans-serif";
        const w = ctx.measureText(label).width + 8;
        const ty = y1 > 18 ? y1 - 18 : y1;
        ctx.fillStyle = c;
        ctx.fillRect(x1, ty, w, 18);
        ctx.fillStyle = "#fff";
        ctx.fillText(label, x1 + 4, ty + 13);
      });
    }
    function point(event) {
      const rect = canvas.getBoundingClientRect();
      return [(event.clientX - rect.left) * (canvas.width / rect.width) / ed.scale,
        (event.clientY - rect.top) * (canvas.height / rect.height) / ed.scale];
    }
    canvas.addEventListener("pointerdown", (event) => {
      const [x, y] = point(event);
      if (ed.drawing) {
        ed.start = [x, y];
        ed.drag = [x, y, x, y];
        canvas.setPointerCapture(event.pointerId);
        return;
      }
      let best = -1;
      let area = Infinity;
      ed.boxes.forEach((b, i) => {
        const [x1, y1, x2, y2] = b.box;
        const a = (x2 - x1) * (y2 - y1);
        if (x >= x1 && x <= x2 && y >= y1 && y <= y2 && a < area) { best = i; area = a; }
      });
      select(best);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!ed.drag) return;
      const [x, y] = point(event);
      const clampX = (v) => Math.min(Math.max(v, 0), photo.width);
      const clampY = (v) => Math.min(Math.max(v, 0), photo.height);
      ed.drag = [clampX(Math.min(ed.start[0], x)), clampY(Math.min(ed.start[1], y)),
        clampX(Math.max(ed.start[0], x)), clampY(Math.max(ed.start[1], y))];
      draw_();
    });
    canvas.addEventListener("pointerup", () => {
      if (!ed.drag) return;
      const [x1, y1, x2, y2] = ed.drag;
      ed.drag = null;
      if ((x2 - x1) * ed.scale >= 4 && (y2 - y1) * ed.scale >= 4) {
        ed.boxes.push({ part: partSelect.value || parts[0], box: [x1, y1, x2, y2], score: null });
        ed.drawing = false;
        draw.setAttribute("aria-pressed", "false");
        canvas.classList.remove("drawing");
        select(ed.boxes.length - 1);
        changed();
      } else {
        draw_();
      }
    });
    draw.addEventListener("click", () => {
      ed.drawing = !ed.drawing;
      draw.setAttribute("aria-pressed", String(ed.drawing));
      canvas.classList.toggle("drawing", ed.drawing);
      if (ed.drawing && !state.showBoxes) document.getElementById("toggle-boxes").click();
    });
    partSelect.addEventListener("change", () => {
      if (ed.selected < 0) return;
      ed.boxes[ed.selected] = { ...ed.boxes[ed.selected], part: partSelect.value, score: null };
      changed();
    });
    del.addEventListener("click", () => {
      if (ed.selected < 0) return;
      ed.boxes.splice(ed.selected, 1);
      select(-1);
      changed();
    });
    save.addEventListener("click", async () => {
      error.textContent = "";
      save.disabled = true;
      try {
        const body = { boxes: ed.boxes.map((b) => ({ part: b.part, box: b.box.map((v) => Math.round(v * 10) / 10) })) };
        const view = await api("PUT", "/v1/claims/" + encodeURIComponent(state.claimId) + "/photos/" +
          encodeURIComponent(photo.id) + "/boxes", body);
        render(view);
      } catch (e) {
        save.disabled = false;
        showError(error, e);
      }
    });

    ed.draw = draw_;
    state.editors.push(ed);
    AQ.photoURL(state.claimId, photo.id).then(AQ.loadImage).then((image) => {
      ed.image = image;
      const width = Math.min(640, photo.width);
      ed.scale = width / photo.width;
      canvas.width = Math.round(width);
      canvas.height = Math.round(photo.height * ed.scale);
      draw_();
      canvas.dataset.ready = "true";
    }).catch((e) => showError(error, e));

    const caption = el("figcaption", {},
      el("span", { class: "filename", text: photo.filename || AQ.t("rv.noname") }),
      el("span", { class: "photo-part muted small", text: photo.part
        ? AQ.t("rv.closeup", { part: AQ.partLabel(photo.part.part, photo.part.side) }) : AQ.t("rv.wide") }),
      el("span", { class: "muted small", text: photo.width + "×" + photo.height }),
      photo.duplicate_of_claim_id
        ? el("a", { class: "chip warn duplicate-of", href: photo.duplicate_of_url, "data-claim": photo.duplicate_of_claim_id,
            title: AQ.t("rv.seen_in.title"),
            onclick: (event) => { event.preventDefault(); location.hash = "claim=" + photo.duplicate_of_claim_id; },
            text: AQ.t("rv.seen_in", { id: photo.duplicate_of_claim_id.slice(0, 8) }) })
        : null,
      entry.corrected ? el("span", { class: "badge", text: AQ.t("rv.boxes.corrected") }) : null);
    const tools = closed ? el("div", { class: "tools" }, status)
      : el("div", { class: "tools" }, draw, partSelect, del, save, status);
    return el("figure", { class: "photo", "data-photo": photo.id }, canvas, caption, tools, error);
  }

  // ---- findings, line items, decision ----------------------------------------------------------
  function findingsSection(view) {
    const quote = view.model_quote || view.claim.quote;
    const rows = [];
    for (const report of quote.photos) {
      for (const f of report.findings) {
        const [label, p] = Object.entries(f.severity).sort((a, b) => b[1] - a[1])[0] || ["—", 0];
        rows.push(el("tr", {},
          el("td", { text: partName(f.part) }),
          el("td", { class: "num", text: f.score.toFixed(2) }),
          el("td", {}, el("span", { class: "sev sev-" + label, text: word("severity", label) }), " ", el("span", { class: "muted", text: (p * 100).toFixed(0) + "%" })),
          el("td", { class: "num", text: (f.area_fraction * 100).toFixed(1) + "%" }),
          el("td", { class: "num", title: AQ.t("rv.col.agreement.title"), text: f.agreement === null || f.agreement === undefined ? "—" : f.agreement.toFixed(2) })));
      }
    }
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 5, class: "muted", text: AQ.t("rv.nofindings") })));
    return section(AQ.t("rv.findings"),
      el("table", {}, el("thead", {}, el("tr", {}, [AQ.t("quote.part"), AQ.t("rv.col.score"), AQ.t("rv.col.severity"), AQ.t("rv.col.area"), AQ.t("rv.col.agreement")].map((h) => el("th", { text: h })))),
        el("tbody", {}, rows)));
  }

  // The breakdown is what the adjuster edits: a changed cost changes that cost alone, and the line's amount is
  // the sum of its costs (the service derives it the same way). A line without costs is a lump sum, typed in.
  function lineItemsSection(view, closed) {
    const quote = view.claim.quote || { line_items: [], currency: null, source: "model" };  // blind: starts empty
    const parts = view.parts.length ? view.parts : [...new Set(quote.line_items.map((l) => l.part))];
    let lines = quote.line_items.map((l) => ({ ...l }));
    const body = el("tbody", {});
    const totalCell = el("td", { class: "num total" });
    const save = el("button", { type: "button", id: "save-lines", class: "primary", text: AQ.t("rv.lines.save"), disabled: true });
    const error = el("p", { class: "error" });
    const costs = (line) => COSTS.reduce((sum, [field]) => sum + Number(line[field] || 0), 0);
    const lumpSum = (line) => costs(line) === 0;
    const lineTotal = (line) => (lumpSum(line) ? Number(line.total) : Math.round(costs(line) * 100) / 100);

    function options(values, current, label) {
      const all = values.includes(current) ? values : [current, ...values];
      return all.map((v) => el("option", { value: v, text: label(v), selected: v === current }));
    }
    function dirty() { save.disabled = false; draw(); }
    // The adjuster changed `changes` of line i: the rest of the line stays, its description says who changed it.
    function change(i, changes) {
      lines[i] = { ...lines[i], ...changes, description: lines[i].added ? AQ.t("rv.line.added") : AQ.t("rv.line.edited") };
      lines[i].total = lineTotal(lines[i]);
      dirty();
    }
    function moneyInput(i, field, value, label) {
      const input = el("input", { type: "number", min: "0", step: "0.01", class: "line-cost", "data-field": field,
        value: String(value), "aria-label": AQ.t("rv.line.field", { field: label, n: i + 1 }), disabled: closed });
      input.addEventListener("change", () => {
        const n = Number(input.value);
        if (input.value === "" || !Number.isFinite(n) || n < 0) { input.value = String(value); return; }
        change(i, { [field]: n });
      });
      return input;
    }
    function draw() {
      clear(body);
      lines.forEach((line, i) => {
        const part = el("select", { class: "line-part", "aria-label": AQ.t("rv.line.field", { field: AQ.t("quote.part"), n: i + 1 }),
          disabled: closed }, options(parts, line.part, partName));
        part.addEventListener("change", () => change(i, { part: part.value }));
        const op = el("select", { class: "line-operation", "aria-label": AQ.t("rv.line.field", { field: AQ.t("rv.col.operation"), n: i + 1 }),
          disabled: closed }, options(view.operations, line.operation, (o) => word("op", o)));
        op.addEventListener("change", () => change(i, { operation: op.value }));
        const remove = closed ? null : el("button", { type: "button", class: "link line-remove", text: AQ.t("rv.lines.remove"),
          onclick: () => { lines.splice(i, 1); dirty(); } });
        const hours = (h) => el("span", { class: "muted small", text: AQ.t("rv.hours", { hours: Number(h).toFixed(1) }) + " · " });
        const total = lumpSum(line)
          ? moneyInput(i, "total", line.total, AQ.t("quote.amount"))
          : el("span", { class: "line-total", title: AQ.t("rv.line.derived"), text: money(lineTotal(line)) });
        if (lumpSum(line)) total.classList.add("line-total");
        body.append(el("tr", { "data-line": i },
          el("td", {}, part), el("td", {}, op),
          el("td", { class: "num" }, moneyInput(i, "parts_cost", line.parts_cost, AQ.t("rv.col.parts"))),
          el("td", { class: "num" }, hours(line.labour_hours), moneyInput(i, "labour_cost", line.labour_cost, AQ.t("rv.col.labour"))),
          el("td", { class: "num" }, hours(line.refinish_hours), moneyInput(i, "refinish_cost", line.refinish_cost, AQ.t("rv.col.refinish"))),
          el("td", { class: "num" }, moneyInput(i, "materials_cost", line.materials_cost, AQ.t("rv.col.materials"))),
          el("td", { class: "num" }, total), el("td", {}, remove)));
      });
      const sum = Math.round(lines.reduce((s, l) => s + lineTotal(l), 0) * 100) / 100;
      totalCell.textContent = money(sum, quote.currency);
      const final = document.getElementById("final-amount");
      if (view.blind && final && !save.disabled) final.value = String(sum);  // a blind decision pays the lines
    }
    draw();
    const add = closed ? null : el("button", { type: "button", id: "add-line", text: AQ.t("rv.lines.add"), onclick: () => {
      lines.push({ part: parts[0] || "", operation: view.operations[0], parts_cost: 0, labour_hours: 0, labour_cost: 0,
        refinish_hours: 0, refinish_cost: 0, materials_cost: 0, total: 0, description: AQ.t("rv.line.added"), added: true });
      dirty();
    } });
    // Every field as it stands; a line with costs leaves its total to the service, which derives it.
    const payload = () => lines.map((l) => ({ part: l.part, operation: l.operation,
      parts_cost: l.parts_cost, labour_hours: l.labour_hours, labour_cost: l.labour_cost,
      refinish_hours: l.refinish_hours, refinish_cost: l.refinish_cost, materials_cost: l.materials_cost,
      description: l.description || "", ...(lumpSum(l) ? { total: Number(l.total) } : {}) }));
    // Unsaved lines of a blind review are saved with the decision (the decision section asks).
    state.unsavedLines = () => (save.disabled ? null : payload());
    save.addEventListener("click", async () => {
      error.textContent = "";
      save.disabled = true;
      try {
        render(await api("PUT", "/v1/claims/" + encodeURIComponent(state.claimId) + "/line-items", { line_items: payload() }));
        loadQueue();
      } catch (e) {
        save.disabled = false;
        showError(error, e);
      }
    });
    const model = view.model_quote;
    const interval = model && model.low !== null
      ? AQ.t("rv.estimate", { total: money(model.total, model.currency), level: Math.round(model.level * 100),
        low: money(model.low), high: money(model.high, model.currency) })
      : AQ.t("rv.nointerval");
    const source = quote.source === "adjuster" ? el("span", { class: "badge", text: AQ.t("rv.edited_by") }) : null;
    return el("section", { class: "card" },
      el("div", { class: "section-head" }, el("h3", { text: AQ.t("rv.lines") }), source),
      el("table", { class: "lines" },
        el("thead", {}, el("tr", {}, [AQ.t("quote.part"), AQ.t("rv.col.operation"), AQ.t("rv.col.parts"), AQ.t("rv.col.labour"), AQ.t("rv.col.refinish"), AQ.t("rv.col.materials"), AQ.t("quote.amount"), ""]
          .map((h) => el("th", { text: h })))),
        body,
        el("tfoot", {}, el("tr", {}, el("td", { colspan: 6, text: AQ.t("quote.total") }), totalCell, el("td", {})))),
      el("p", { class: "muted small", text: interval }),
      closed ? null : el("div", { class: "tools" }, add, save), error);
  }

  function decisionSection(view) {
    const quote = view.claim.quote || { total: null, currency: null };
    const amount = el("input", { id: "final-amount", type: "number", min: "0.01", step: "0.01", value: String(quote.total ?? "") });
    const comment = el("textarea", { id: "comment", rows: 2, maxlength: 2000, placeholder: AQ.t("rv.comment.placeholder") });
    const error = el("p", { class: "error", role: "alert" });
    async function act(kind) {
      error.textContent = "";
      try {
        if (kind === "approve") {
          const value = Number(amount.value);
          if (!(value > 0)) { error.textContent = AQ.t("rv.err.amount"); return; }
          const lines = view.blind && state.unsavedLines ? state.unsavedLines() : null;
          if (lines) await api("PUT", "/v1/claims/" + encodeURIComponent(state.claimId) + "/line-items", { line_items: lines });
          await api("POST", "/v1/claims/" + encodeURIComponent(state.claimId) + "/approve", { amount: value, comment: comment.value });
        } else {
          if (!comment.value.trim()) { error.textContent = AQ.t("rv.err.reject"); return; }
          await api("POST", "/v1/claims/" + encodeURIComponent(state.claimId) + "/reject", { comment: comment.value });
        }
        await openClaim(state.claimId);
        await loadQueue();
      } catch (e) {
        showError(error, e);
      }
    }
    return section(AQ.t("rv.decision"),
      el("div", { class: "row decision" },
        el("div", {}, el("label", { for: "final-amount", text: quote.currency
          ? AQ.t("rv.final", { currency: word("currency", quote.currency) }) : AQ.t("rv.final.blind") }), amount),
        el("div", { class: "grow" }, el("label", { for: "comment", text: AQ.t("rv.comment") }), comment)),
      el("div", { class: "tools" },
        el("button", { type: "button", id: "approve", class: "primary", text: AQ.t("rv.approve"), onclick: () => act("approve") }),
        el("button", { type: "button", id: "reject", class: "danger", text: AQ.t("rv.reject"), onclick: () => act("reject") })),
      error);
  }

  function versionsSection(quote, model) {
    const v = (model || quote).versions;
    return section(AQ.t("rv.produced"),
      el("dl", { class: "versions" }, Object.entries(v).map(([k, value]) => [el("dt", { text: word("version", k) }), el("dd", { class: "mono", text: value })])));
  }

  // A declared part as the audit records it ("Door:left"), in the page's language.
  function declaredName(text) {
    const [part, side] = String(text).split(":");
    return AQ.partLabel(part, side || null);
  }

  function summary(event) {
    const d = event.detail || {};
    const photo = (id) => AQ.t("rv.audit.photo", { id: String(id).slice(0, 8) });
    const list = AQ.t("summary.parts.separator");
    switch (event.action) {
      case "quote.decided": return word("decision", d.decision) + " · " + money(d.total, d.currency);
      case "quote.edited": return state.view && state.view.blind  // the amount edited from is the model's
        ? money(d.total && d.total.to, d.currency)
        : AQ.t("rv.audit.edited", { from: money(d.total && d.total.from), to: money(d.total && d.total.to, d.currency) });
      case "boxes.corrected": return AQ.t("rv.audit.boxes", { before: (d.before || []).length, after: (d.after || []).length, photo: String(d.photo_id).slice(0, 8) });
      case "claim.approved": return AQ.t("rv.audit.approved", { amount: money(d.amount, d.currency) }) + (d.comment ? " · " + d.comment : "");
      case "claim.rejected": return AQ.t("rv.audit.rejected", { comment: d.comment });
      case "photo.added": return (d.photos || []).map((p) => photo(p.photo_id) + (p.part ? " (" + declaredName(p.part) + ")" : "")).join(list);
      case "claim.parts_declared": return ((d.declared_parts || {}).from || []).map(declaredName).join(list) + " → " + ((d.declared_parts || {}).to || []).map(declaredName).join(list);
      case "photo.replaced": return photo(d.replaces) + " → " + String(d.photo_id).slice(0, 8);
      case "photo.withdrawn": return photo(d.photo_id);
      case "claim.settled":
      case "claim.routed_to_review":
      case "claim.retake_requested": return (d.reasons || []).map(reasonTitle).join(list);
      default: return "";
    }
  }

  // Each event in words (its stable code stays in data-action and the tooltip).
  function auditSection(events) {
    return section(AQ.t("rv.audit"),
      el("ol", { class: "audit", id: "audit" }, events.map((e) => el("li", { "data-action": e.action },
        el("span", { class: "muted", text: when(e.at) }),
        el("span", { class: "audit-action", title: e.action, text: word("audit", e.action) }),
        el("span", { text: word("role", e.actor_role) + (e.actor_key_id ? " " + e.actor_key_id.slice(0, 8) : "") }),
        el("span", { class: "muted", text: summary(e) })))));
  }

  // ---- start -----------------------------------------------------------------------------------
  let ready = false;
  document.getElementById("queue-filter").addEventListener("submit", (event) => { event.preventDefault(); loadQueue(); });
  // #claim=<id> opens that claim (links between duplicate photos of two claims use it).
  function claimFromHash() {
    const m = /^#claim=([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
    return m ? m[1] : null;
  }
  window.addEventListener("hashchange", () => { const id = claimFromHash(); if (id) openClaim(id); });
  AQ.initLang(() => {
    fillReasonFilter();
    if (ready) { loadQueue(); if (state.claimId) openClaim(state.claimId); }
  }).then(() => AQ.signIn(async () => { await api("GET", "/v1/review/queue?limit=1"); }, () => {
    ready = true;
    document.getElementById("workspace").hidden = false;
    loadQueue();
    const id = claimFromHash();
    if (id) openClaim(id);
  }));
})();
