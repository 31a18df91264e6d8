// Sample explorer: reads the embedded JSON, renders items with textContent only (never as HTML).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("sample-data").textContent);
  var PAGE = 50;
  var state = { bench: "all", change: "all", outcome: "all", query: "", limit: PAGE };
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function outcome(s) {
    return (s.before ? s.before.outcome : "(none)") + " \u2192 " + (s.after ? s.after.outcome : "(none)");
  }
  function chips(container, key, options) {
    options.forEach(function (o) {
      var b = el("button", null, o[1]);
      b.type = "button";
      b.dataset.value = o[0];
      b.setAttribute("aria-pressed", String(state[key] === o[0]));
      b.addEventListener("click", function () {
        state[key] = o[0];
        state.limit = PAGE;
        Array.prototype.forEach.call(container.children, function (c) {
          c.setAttribute("aria-pressed", String(c.dataset.value === o[0]));
        });
        render();
      });
      container.appendChild(b);
    });
  }
  function matches(s) {
    if (state.bench !== "all" && s.benchmark !== state.bench) return false;
    if (state.change === "changed" && !s.changed) return false;
    if (state.change === "text" && !s.text_changed) return false;
    if (state.change === "same" && s.changed) return false;
    if (state.outcome !== "all" && outcome(s) !== state.outcome) return false;
    if (state.query) {
      var q = state.query.toLowerCase();
      var hay = [s.prompt, s.id, s.before && s.before.output, s.after && s.after.output].join("\n").toLowerCase();
      if (hay.indexOf(q) < 0) return false;
    }
    return true;
  }
  function side(title, x) {
    var d = el("div", "side");
    d.appendChild(el("div", "label", title + ": " + (x ? x.outcome : "not evaluated")));
    if (!x) return d;
    var text = x.output;
    if (text === null || text === undefined) text = "(no generated text; scored by log-likelihood)";
    else if (!/\S/.test(text)) text = "(whitespace only) " + JSON.stringify(text);
    d.appendChild(el("pre", "output", text));
    var sc = Object.keys(x.scores).map(function (k) { return k + "=" + Number(x.scores[k]).toPrecision(4); });
    if (x.extracted !== null && x.extracted !== undefined) sc.unshift("extracted=" + x.extracted);
    d.appendChild(el("div", "scores", sc.join("  ")));
    return d;
  }
  function card(s) {
    var c = el("article", "sample" + (s.changed ? " changed" : ""));
    c.dataset.benchmark = s.benchmark;
    var h = el("header");
    h.appendChild(el("span", "bench", s.benchmark + " \u00b7 "));
    h.appendChild(el("span", "id", s.id));
    h.appendChild(el("span", "outcome", " \u00b7 " + outcome(s) + (s.changed ? " (changed)" : "")));
    if (s.gold !== null && s.gold !== undefined) h.appendChild(el("span", "gold", " \u00b7 gold: " + s.gold));
    c.appendChild(h);
    c.appendChild(el("pre", "prompt", s.prompt));
    var cols = el("div", "cols");
    cols.appendChild(side("before", s.before));
    cols.appendChild(side("after", s.after));
    c.appendChild(cols);
    return c;
  }
  function render() {
    var hits = data.filter(matches);
    var list = $("ex-list");
    list.replaceChildren.apply(list, hits.slice(0, state.limit).map(card));
    $("ex-count").textContent = "showing " + Math.min(hits.length, state.limit) + " of " + hits.length + " matching items (" + data.length + " in all)";
    $("ex-count").dataset.matching = String(hits.length);
    $("ex-more").hidden = hits.length <= state.limit;
  }

  var benches = [];
  data.forEach(function (s) { if (benches.indexOf(s.benchmark) < 0) benches.push(s.benchmark); });
  chips($("ex-bench"), "bench", [["all", "all benchmarks"]].concat(benches.map(function (b) { return [b, b]; })));
  chips($("ex-change"), "change", [["all", "all items"], ["changed", "outcome changed"], ["text", "output text changed"], ["same", "outcome unchanged"]]);
  var outcomes = [];
  data.forEach(function (s) { var o = outcome(s); if (outcomes.indexOf(o) < 0) outcomes.push(o); });
  outcomes.sort();
  var sel = $("ex-outcome");
  [["all", "any"]].concat(outcomes.map(function (o) { return [o, o]; })).forEach(function (o) {
    var opt = el("option", null, o[1]);
    opt.value = o[0];
    sel.appendChild(opt);
  });
  sel.addEventListener("change", function () { state.outcome = sel.value; state.limit = PAGE; render(); });
  $("ex-search").addEventListener("input", function (e) { state.query = e.target.value; state.limit = PAGE; render(); });
  $("ex-more").addEventListener("click", function () { state.limit += PAGE; render(); });
  render();
})();
