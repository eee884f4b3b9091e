// The adjuster's autonomy panel: per policy and step, what the reviews have proven (GET /v1/review/autonomy,
// the report the admin endpoint and `autoquote autonomy status` show).
"use strict";

(() => {
  const { api, el, clear } = AQ;
  const FIELDS = ["au.col.graded", "au.col.would", "au.col.wrong", "au.col.bound", "au.col.more"];

  function percent(x) { return (100 * x).toFixed(1) + "%"; }

  // One step as a small definition list: the aside is narrow, a wide table would not fit.
  function stepBlock(policy, step) {
    const more = step.state === "shadow" ? (step.more_needed === null ? AQ.t("au.more.unreachable")
      : String(step.more_needed)) : "—";
    const values = [String(step.graded), String(step.would_settle),
      AQ.t("au.wrong", { wrong: step.wrong, over: step.overpay, under: step.underpay }), percent(step.bound), more];
    return el("div", { class: "au-step", "data-policy": policy.policy, "data-step": step.step },
      el("div", { class: "au-head" }, el("span", { class: "mono", text: step.step }), " ",
        el("span", { class: "au-state au-" + step.state, text: AQ.t("au.state." + step.state) })),
      el("dl", { class: "au-figures" }, FIELDS.map((f, i) => [el("dt", { text: AQ.t(f) }),
        el("dd", { "data-field": f.slice(7), text: values[i] })])));
  }

  function policyBlock(policy) {
    return el("div", { class: "au-policy" },
      el("h4", {}, el("span", { class: "mono", text: policy.policy })),
      el("p", { class: "muted", text: AQ.t("au.target", { target: percent(policy.target),
        confidence: percent(policy.confidence) }) }),
      policy.steps.map((s) => stepBlock(policy, s)));
  }

  // Draw (or redraw) the panel; called by the workspace whenever it reloads its queue.
  AQ.autonomyPanel = async function autonomyPanel() {
    const root = document.getElementById("autonomy-panel");
    if (!root) return;
    let report;
    try {
      report = await api("GET", "/v1/review/autonomy");
    } catch (error) {
      root.hidden = true;
      return;
    }
    clear(root);
    root.append(el("h2", { text: AQ.t("au.title") }), el("p", { class: "muted", text: AQ.t("au.help") }),
      ...report.policies.filter((p) => p.steps.length).map(policyBlock));
    root.hidden = false;
  };
})();
