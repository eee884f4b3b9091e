// The customer's page: open a claim with photos, get the quote or learn why an adjuster will look, follow it.
"use strict";

(() => {
  const { api, el, money, when, reasonTitle, statusText, clear } = AQ;
  let current = null;

  async function loadJurisdictions() {
    const select = document.getElementById("c-jurisdiction");
    const models = await api("GET", "/v1/models");
    clear(select);
    for (const p of models.policies) {
      select.append(el("option", { value: p.jurisdiction + "|" + p.region,
        text: p.jurisdiction + " (" + p.currency + ", claims up to " + money(p.small_claim_limit, p.currency) + " may settle at once)" }));
    }
  }

  async function loadClaims() {
    const page = await api("GET", "/v1/claims?limit=50");
    const list = document.getElementById("my-claims");
    clear(list);
    if (!page.items.length) list.append(el("li", { class: "muted", text: "No claims yet." }));
    for (const c of page.items) {
      list.append(el("li", {}, el("button", { type: "button", class: "claim-item", "data-claim": c.id, onclick: () => show(c.id) },
        el("span", { class: "mono", text: c.id.slice(0, 8) }),
        el("span", { class: "muted", text: when(c.created_at) }),
        el("span", { class: "status status-" + c.status, text: statusText(c.status) }))));
    }
  }

  async function show(claimId) {
    current = claimId;
    render(await api("GET", "/v1/claims/" + encodeURIComponent(claimId)));
  }

  function render(claim) {
    const root = document.getElementById("claim");
    root.hidden = false;
    clear(root);
    root.append(el("div", { class: "section-head" },
      el("h2", {}, "Claim ", el("span", { class: "mono", text: claim.id.slice(0, 8) })),
      el("span", { class: "status status-" + claim.status, id: "claim-status", text: statusText(claim.status) })));
    if (claim.description) root.append(el("p", { class: "description", text: claim.description }));
    const quote = claim.quote;
    const review = claim.review;
    if (review && review.outcome === "approved") {
      root.append(el("p", { class: "decided decided-approved", id: "outcome" },
        el("strong", { text: "Approved: " + money(review.amount, review.currency) }),
        " ", el("span", { class: "muted", text: when(review.at) })));
    } else if (review) {
      root.append(el("p", { class: "decided decided-rejected", id: "outcome" },
        el("strong", { text: "Rejected. " }), el("span", { text: review.comment })));
    } else if (quote && quote.decision === "auto_settle") {
      root.append(el("p", { class: "offer", id: "outcome" }, "Our offer: ",
        el("strong", { text: money(quote.total, quote.currency) })));
    } else if (quote && quote.decision === "human_review") {
      root.append(el("div", { id: "outcome" }, el("p", { text: "An adjuster will look at your claim, because:" }),
        el("ul", { class: "reasons" }, quote.reasons.map((r) => el("li", {}, el("strong", { text: reasonTitle(r.code) + ": " }), el("span", { text: r.message }))))));
    } else if (quote && quote.decision === "retake_photos") {
      root.append(el("div", { id: "outcome" }, el("p", { text: "Please send new photos:" }),
        el("ul", { class: "reasons" }, quote.reasons.map((r) => el("li", { text: r.message })))));
    }
    if (quote && quote.line_items.length && !(review && review.outcome === "rejected")) {
      root.append(el("table", { class: "lines" },
        el("thead", {}, el("tr", {}, ["Part", "Work", "Amount"].map((h) => el("th", { text: h })))),
        el("tbody", {}, quote.line_items.map((l) => el("tr", {}, el("td", { text: l.part }), el("td", { text: l.operation }),
          el("td", { class: "num", text: money(l.total, quote.currency) }))))));
    }
    const thumbs = el("div", { class: "thumbs" });
    for (const photo of claim.photos) {
      const img = el("img", { alt: "photo " + (photo.filename || photo.id), class: "thumb" });
      AQ.photoURL(claim.id, photo.id).then((url) => { img.src = url; }).catch(() => {});
      thumbs.append(el("figure", {}, img, el("figcaption", { class: "small", text: photo.filename })));
    }
    root.append(thumbs);
    root.append(el("p", { class: "muted small", text: "Last update " + when(claim.updated_at) }));
  }

  async function submit(event) {
    event.preventDefault();
    const form = event.target;
    const status = document.getElementById("new-claim-status");
    const error = document.getElementById("new-claim-error");
    error.textContent = "";
    const [jurisdiction, region] = form.elements.jurisdiction.value.split("|");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      status.textContent = "Opening the claim…";
      const claim = await api("POST", "/v1/claims", { region, jurisdiction, segment: form.elements.segment.value,
        description: form.elements.description.value });
      const data = new FormData();
      for (const file of form.elements.photos.files) data.append("files", file, file.name);
      status.textContent = "Uploading photos…";
      await api("POST", "/v1/claims/" + claim.id + "/photos", data);
      status.textContent = "Assessing the damage…";
      render(await api("POST", "/v1/claims/" + claim.id + "/assess"));
      current = claim.id;
      status.textContent = "";
      form.reset();
      await loadJurisdictions();
      await loadClaims();
    } catch (e) {
      status.textContent = "";
      error.textContent = e instanceof AQ.ApiError ? e.message : String(e);
    } finally {
      button.disabled = false;
    }
  }

  document.getElementById("new-claim").addEventListener("submit", submit);
  document.getElementById("refresh").addEventListener("click", () => { loadClaims(); if (current) show(current); });
  AQ.signIn(async () => { await api("GET", "/v1/claims?limit=1"); }, () => {
    document.getElementById("customer").hidden = false;
    loadJurisdictions();
    loadClaims();
  });
})();
