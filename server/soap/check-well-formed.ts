import { soapClientError } from './soap-errors.ts';

/**
 * Element and attribute names: ASCII XML names with an optional prefix. SOAP messages of the
 * Session service use nothing else, and refusing the rest keeps the scan simple.
 */
const ncName = '[A-Za-z_][A-Za-z0-9_.-]*';
const qName = `${ncName}(?::${ncName})?`;
const attribute = `\\s+${qName}\\s*=\\s*(?:"[^"<]*"|'[^'<]*')`;

// `<?xml version="1.0" encoding="utf-8"?>` and nothing cleverer: pseudo-attributes only, and
// values without `<`, `>` or `?`, so no reading of where the declaration ends can differ.
const xmlDeclaration = /^\uFEFF?<\?xml(?:\s+[A-Za-z]+\s*=\s*(?:"[^"<>?]*"|'[^'<>?]*'))*\s*\?>/;
const comment = /<!--([\s\S]*?)-->/y;
const cdata = /<!\[CDATA\[[\s\S]*?\]\]>/y;
const endTag = new RegExp(`</(${qName})\\s*>`, 'y');
const startTag = new RegExp(`<(${qName})((?:${attribute})*)\\s*(/?)>`, 'y');
const text = /[^<]+/y;
const attributes = new RegExp(`\\s+(${qName})\\s*=\\s*(?:"([^"<]*)"|'([^'<]*)')`, 'g');

/** Characters XML 1.0 forbids, and UTF-16 halves without their other half. */
const forbiddenChars =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** An `&` that does not start one of XML's five entities or a character reference. */
const strayAmpersand = /&(?!(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});)/;

/** Bounds on what one document may hold, checked during the scan so that no later step pays for more. */
export interface XmlLimits {
  /** How deep elements may nest. */
  maxDepth: number;
  /** Elements in the whole document. */
  maxElements: number;
  /** Attributes (namespace declarations included) on one element. */
  maxAttributes: number;
  /** `xmlns` and `xmlns:*` declarations in the whole document. */
  maxNamespaceDeclarations: number;
}

/**
 * Checks that `xml` is one well-formed XML element with no DTD and no processing instruction
 * (the XML declaration aside), within `limits`, whose names cannot reach
 * `Object.prototype`. Throws a Client-fault AppError otherwise, naming no position.
 *
 * fast-xml-parser is lenient by design (it accepts mismatched and unclosed tags, a second
 * root, text after the root) and expands DTD entities, so this scan runs before it.
 *
 * Returns the document without its XML declaration: the parser gets exactly what was
 * scanned, so the two can never disagree about where the declaration ends.
 */
export function checkWellFormed(xml: string, limits: XmlLimits): string {
  if (forbiddenChars.test(xml)) throw notWellFormed();
  const open: string[] = [];
  let elements = 0;
  let namespaceDeclarations = 0;
  let rootSeen = false;
  const start = xml.match(xmlDeclaration)?.[0].length ?? 0;
  if (start === 0 && /^\uFEFF?<\?xml[\s?]/.test(xml)) throw notWellFormed();
  let at = start;

  while (at < xml.length) {
    if (xml.startsWith('<!--', at)) {
      const match = take(comment, xml, at);
      if (!match || match[1]!.includes('--')) throw notWellFormed();
      at += match[0].length;
    } else if (xml.startsWith('<![CDATA[', at)) {
      const match = take(cdata, xml, at);
      if (!match || open.length === 0) throw notWellFormed();
      at += match[0].length;
    } else if (/^<!doctype/i.test(xml.slice(at, at + 9))) {
      throw soapClientError('soap_doctype_refused', 'A DOCTYPE is not allowed in a SOAP message.');
    } else if (xml.startsWith('<?', at)) {
      throw soapClientError('soap_pi_refused', 'Processing instructions are not allowed in a SOAP message.');
    } else if (xml.startsWith('</', at)) {
      const match = take(endTag, xml, at);
      if (!match || open.pop() !== match[1]) throw notWellFormed();
      at += match[0].length;
    } else if (xml.startsWith('<', at)) {
      const match = take(startTag, xml, at);
      if (!match) throw notWellFormed();
      const [whole, name, attributeList, selfClosing] = match as unknown as [string, string, string, string];
      if (open.length === 0 && rootSeen) throw notWellFormed();
      rootSeen = true;
      checkName(name);
      if (++elements > limits.maxElements)
        throw soapClientError('soap_too_many_elements', 'The SOAP message has too many elements.');
      namespaceDeclarations += checkAttributes(attributeList, limits.maxAttributes);
      if (namespaceDeclarations > limits.maxNamespaceDeclarations) {
        throw soapClientError('soap_too_many_namespaces', 'The SOAP message declares too many namespaces.');
      }
      if (open.length + 1 > limits.maxDepth) throw soapClientError('soap_too_deep', 'The XML is nested too deeply.');
      if (!selfClosing) open.push(name);
      at += whole.length;
    } else {
      const match = take(text, xml, at)!;
      const chunk = match[0];
      if (open.length === 0 && chunk.trim() !== '') throw notWellFormed();
      if (strayAmpersand.test(chunk) || chunk.includes(']]>')) throw notWellFormed();
      at += chunk.length;
    }
  }
  if (!rootSeen || open.length > 0) throw notWellFormed();
  return xml.slice(start);
}

function take(pattern: RegExp, xml: string, at: number): RegExpExecArray | null {
  pattern.lastIndex = at;
  return pattern.exec(xml);
}

/** Checks one element's attributes and returns how many of them declare a namespace. */
function checkAttributes(list: string, maxAttributes: number): number {
  const seen = new Set<string>();
  let declarations = 0;
  for (const [, name, doubleQuoted, singleQuoted] of list.matchAll(attributes)) {
    if (seen.size >= maxAttributes)
      throw soapClientError('soap_too_many_attributes', 'An element of the SOAP message has too many attributes.');
    if (seen.has(name!)) throw notWellFormed();
    seen.add(name!);
    checkName(name!);
    if (name === 'xmlns' || name!.startsWith('xmlns:')) declarations++;
    if (strayAmpersand.test(doubleQuoted ?? singleQuoted ?? '')) throw notWellFormed();
  }
  return declarations;
}

/** Names such as `__proto__` or `constructor` would reach Object.prototype in parsed objects. */
function checkName(qualifiedName: string): void {
  for (const part of qualifiedName.split(':')) {
    if (part in Object.prototype || part === 'prototype') {
      throw soapClientError('soap_name_refused', `The name "${qualifiedName}" is not allowed.`);
    }
  }
}

function notWellFormed() {
  return soapClientError('soap_malformed', 'The request is not well-formed XML.');
}
