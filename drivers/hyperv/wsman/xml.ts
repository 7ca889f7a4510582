// A small XML reader for WS-Management responses: elements (by local name, namespace prefixes
// dropped), attributes and text. SOAP envelopes from WinRM use no DTDs, CDATA or mixed content
// that matters here, so this is enough and keeps the driver free of an XML dependency.

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const entities: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, name: string) => {
    if (name.startsWith("#x")) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(parseInt(name.slice(1), 10));
    return entities[name] ?? whole;
  });
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

function localName(qualified: string): string {
  const colon = qualified.indexOf(":");
  return colon < 0 ? qualified : qualified.slice(colon + 1);
}

/** Parses a document into its root element; throws on malformed input. */
export function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: "#document", attributes: {}, children: [], text: "" };
  const stack: XmlElement[] = [root];
  const tag = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|<\?[\s\S]*?\?>|<!--[\s\S]*?-->/g;
  let last = 0;
  for (let m = tag.exec(xml); m !== null; m = tag.exec(xml)) {
    const top = stack[stack.length - 1]!;
    top.text += decodeEntities(xml.slice(last, m.index));
    last = tag.lastIndex;
    if (m[2] === undefined) continue; // declaration or comment
    const name = localName(m[2]);
    if (m[1] === "/") {
      if (top.name !== name) throw new Error(`malformed XML: </${name}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const element: XmlElement = { name, attributes: attributes(m[3] ?? ""), children: [], text: "" };
    top.children.push(element);
    if (m[4] !== "/") stack.push(element);
  }
  if (stack.length !== 1) throw new Error(`malformed XML: <${stack[stack.length - 1]!.name}> is not closed`);
  const first = root.children[0];
  if (first === undefined) throw new Error("malformed XML: no root element");
  return first;
}

function attributes(source: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of source.matchAll(/([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) out[localName(m[1]!)] = decodeEntities(m[2] ?? m[3] ?? "");
  return out;
}

/** Every descendant element named name, in document order. */
export function findAll(element: XmlElement, name: string): XmlElement[] {
  const found: XmlElement[] = [];
  const walk = (e: XmlElement): void => {
    for (const child of e.children) {
      if (child.name === name) found.push(child);
      walk(child);
    }
  };
  walk(element);
  return found;
}

export function find(element: XmlElement, name: string): XmlElement | undefined {
  return findAll(element, name)[0];
}
