// Small DOM helpers for Gatehouse's pages. Text always goes in as `textContent`, never as
// HTML, so nothing an API answers can become markup.

/**
 * The element with this id, which must be a `type`: the page's markup and its script are
 * written together, so a missing or different element is a bug to report at once rather
 * than a `null` to trip over later.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T, readonly name: string }} type
 * @returns {T}
 */
export function byId(id, type) {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`The page has no ${type.name} #${id}.`);
  return node;
}

/**
 * A new `tag` element with these properties and, when given, this text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Partial<HTMLElementTagNameMap[K]>} [properties]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function element(tag, properties = {}, text) {
  const node = Object.assign(document.createElement(tag), properties);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** @param {HTMLElement} node */
export function show(node) {
  node.hidden = false;
}

/** @param {HTMLElement} node */
export function hide(node) {
  node.hidden = true;
}
