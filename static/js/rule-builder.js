/* The one rule-builder widget for triggerapp's condition language (see sequences/conditions.py).
 *
 * RuleBuilder.mount(container, {value, fields, onChange}) edits one rule tree:
 *   {"all"|"any": [...]}, {"not": {"any": [...]}} ("none of"), and {field, op, value} leaves.
 * ContextRules.mount(container, hiddenInput, fields) edits a list of {name, condition, adjust, cap} and keeps the
 * hidden input's JSON in step, firing "input" so htmx can re-run the what-if table.
 * No framework, no network: plain DOM.
 */
(function () {
  "use strict";
  const OPS = [
    ["eq", "is"], ["ne", "is not"], ["gt", ">"], ["gte", "≥"], ["lt", "<"], ["lte", "≤"],
    ["in", "is one of"], ["not_in", "is none of"], ["contains", "contains"], ["exists", "exists"],
    ["within_last", "within the last"],
  ];
  const UNITS = ["minutes", "hours", "days"];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  // A value is typed by its field: numbers for number fields, true/false for yes/no fields, and text otherwise,
  // so a SKU "00123" stays "00123" (the server compares "249" with 249 as equal anyway).
  function fieldType(fields, name) {
    const exact = fields.find((f) => f.name === name);
    if (exact) return exact.type;
    const wild = fields.find((f) => f.name.endsWith(".*") && name.startsWith(f.name.slice(0, -1)));
    return wild ? wild.type : "text";
  }

  function scalar(text, type) {
    const trimmed = text.trim();
    if (type === "bool") return trimmed === "true" ? true : trimmed === "false" ? false : trimmed;
    if (type === "number") return trimmed !== "" && !isNaN(Number(trimmed)) ? Number(trimmed) : trimmed;
    return trimmed;
  }

  function valueText(op, value) {
    if (value === undefined || value === null) return "";
    if (op === "in" || op === "not_in") return Array.isArray(value) ? value.join(", ") : String(value);
    return String(value);
  }

  // Any rule -> the widget's shapes: groups are all / any / none-of, and a bare {"not": leaf} becomes a
  // none-of group holding that leaf (the same meaning).
  function normalize(node) {
    if (!node || typeof node !== "object") return {all: []};
    if (Array.isArray(node.all)) return {all: node.all.map(normalize)};
    if (Array.isArray(node.any)) return {any: node.any.map(normalize)};
    if (node.not !== undefined) {
      const inner = node.not || {};
      return {not: {any: Array.isArray(inner.any) ? inner.any.map(normalize) : [normalize(inner)]}};
    }
    return node;
  }

  function groupKind(node) {
    if (node.all) return "all";
    if (node.any) return "any";
    if (node.not && node.not.any) return "none";
    return null;
  }

  function children(node) {
    return node.all || node.any || (node.not && node.not.any) || [];
  }

  function makeGroup(kind, items) {
    if (kind === "all") return {all: items};
    if (kind === "any") return {any: items};
    return {not: {any: items}};
  }

  function leafEditor(leaf, fields, listId, changed, remove) {
    const field = el("input", {list: listId, value: leaf.field || "", "aria-label": "Field", class: "rb-field", placeholder: "field"});
    const op = el("select", {"aria-label": "Operator", class: "rb-op"});
    for (const [value, label] of OPS) op.append(el("option", {value, text: label}));
    op.value = leaf.op || "eq";
    const value = el("input", {"aria-label": "Value", class: "rb-value", value: valueText(leaf.op, leaf.value)});
    const amount = el("input", {type: "number", min: "0", "aria-label": "Amount", class: "rb-amount",
      value: leaf.value && leaf.value.amount !== undefined ? leaf.value.amount : 7});
    const unit = el("select", {"aria-label": "Unit", class: "rb-unit"});
    for (const u of UNITS) unit.append(el("option", {value: u, text: u}));
    unit.value = (leaf.value && leaf.value.unit) || "days";

    function read() {
      const result = {field: field.value.trim(), op: op.value};
      if (op.value === "within_last") result.value = {amount: Number(amount.value || 0), unit: unit.value};
      const type = fieldType(fields, result.field);
      if (op.value === "in" || op.value === "not_in") {
        result.value = value.value.split(",").map((v) => scalar(v, type)).filter((v) => v !== "");
      } else if (op.value !== "exists") {
        result.value = scalar(value.value, ["gt", "gte", "lt", "lte"].includes(op.value) && type !== "datetime" ? "number" : type);
      }
      return result;
    }
    function layout() {
      const within = op.value === "within_last";
      value.hidden = within || op.value === "exists";
      amount.hidden = unit.hidden = !within;
    }
    const row = el("div", {class: "rb-leaf"}, field, op, value, amount, unit,
      el("button", {type: "button", class: "link danger", text: "remove", "aria-label": "Remove condition", onclick: remove}));
    for (const input of [field, op, value, amount, unit]) input.addEventListener("input", () => { layout(); changed(); });
    for (const input of [op, unit]) input.addEventListener("change", () => { layout(); changed(); });
    layout();
    row.read = read;
    return row;
  }

  function groupEditor(node, fields, listId, changed, remove) {
    const kind = el("select", {"aria-label": "Match", class: "rb-kind"},
      el("option", {value: "all", text: "all of"}), el("option", {value: "any", text: "any of"}),
      el("option", {value: "none", text: "none of"}));
    kind.value = groupKind(node) || "all";
    const list = el("div", {class: "rb-children"});
    const box = el("div", {class: "rb-group"});

    function add(child) {
      const isGroup = groupKind(child) !== null;
      const editor = (isGroup ? groupEditor : leafEditor)(child, fields, listId, changed, () => { editor.remove(); changed(); });
      list.append(editor);
    }
    children(node).forEach(add);
    const header = el("div", {class: "rb-header"}, el("span", {text: "Match "}), kind, el("span", {text: " these conditions"}),
      remove ? el("button", {type: "button", class: "link danger", text: "remove group", onclick: remove}) : null);
    const actions = el("div", {class: "rb-actions"},
      el("button", {type: "button", text: "+ condition", onclick: () => { add({field: "", op: "eq", value: ""}); changed(); }}),
      el("button", {type: "button", text: "+ group", onclick: () => { add({all: []}); changed(); }}));
    kind.addEventListener("change", changed);
    box.append(header, list, actions);
    box.read = () => makeGroup(kind.value, Array.from(list.children).map((child) => child.read()));
    return box;
  }

  let lists = 0;
  function mount(container, {value, fields, onChange}) {
    const listId = "rb-fields-" + (++lists);
    const datalist = el("datalist", {id: listId});
    for (const f of fields) datalist.append(el("option", {value: f.name.replace(".*", "."), label: f.help}));
    const normal = normalize(value);
    const root = groupKind(normal) ? normal : {all: normal.field ? [normal] : []};
    const editor = groupEditor(root, fields, listId, () => onChange(editor.read()), null);
    container.replaceChildren(datalist, editor);
    return {read: () => editor.read()};
  }

  function mountContextRules(container, hidden, fields) {
    let rules;
    try { rules = JSON.parse(hidden.value || "[]"); } catch (e) { rules = []; }
    const list = el("div", {class: "rb-rules"});
    function sync() {
      const data = Array.from(list.children).map((card) => card.read());
      hidden.value = JSON.stringify(data);
      hidden.dispatchEvent(new Event("input", {bubbles: true}));
    }
    function addRule(rule) {
      const name = el("input", {value: rule.name || "", "aria-label": "Rule name", placeholder: "What this rule means", class: "rb-name"});
      const adjust = el("input", {type: "number", step: "1", value: rule.adjust || 0, "aria-label": "Adjust points", class: "rb-adjust"});
      const cap = el("input", {type: "number", step: "1", value: rule.cap === null || rule.cap === undefined ? "" : rule.cap,
        "aria-label": "Cap score at", class: "rb-cap", placeholder: "none"});
      const conditionBox = el("div");
      const builder = mount(conditionBox, {value: rule.condition, fields, onChange: sync});
      const card = el("fieldset", {class: "rb-rule"},
        el("legend", {text: "Context rule"}),
        el("label", {}, "Name ", name),
        conditionBox,
        el("div", {class: "rb-effect"}, el("label", {}, "then add points ", adjust), el("label", {}, " and cap the score at ", cap)),
        el("button", {type: "button", class: "danger", text: "Remove rule", onclick: () => { card.remove(); sync(); }}));
      for (const input of [name, adjust, cap]) input.addEventListener("input", sync);
      card.read = () => {
        const result = {name: name.value.trim(), condition: builder.read(), adjust: Number(adjust.value || 0)};
        if (cap.value !== "") result.cap = Number(cap.value);
        return result;
      };
      list.append(card);
    }
    rules.forEach(addRule);
    container.replaceChildren(list, el("button", {type: "button", text: "+ Add context rule", onclick: () => { addRule({condition: {all: []}}); sync(); }}));
  }

  window.RuleBuilder = {mount};
  window.ContextRules = {mount: mountContextRules};
  function mountSingle(container, hidden, fields) {
    let value;
    try { value = JSON.parse(hidden.value || "{}"); } catch (e) { value = {all: []}; }
    mount(container, {value, fields, onChange: (rule) => {
      hidden.value = JSON.stringify(rule);
      hidden.dispatchEvent(new Event("input", {bubbles: true}));
    }});
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const container of document.querySelectorAll("[data-rule-builder]")) {
      const hidden = document.getElementById(container.dataset.ruleBuilder);
      const fields = JSON.parse(document.getElementById(container.dataset.fields).textContent);
      mountSingle(container, hidden, fields);
    }
    for (const container of document.querySelectorAll("[data-context-rules]")) {
      const hidden = document.getElementById(container.dataset.contextRules);
      const fields = JSON.parse(document.getElementById(container.dataset.fields).textContent);
      mountContextRules(container, hidden, fields);
    }
  });
})();
