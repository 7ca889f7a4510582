// A small XML reader and writer for vim25 SOAP. vim25 responses use a narrow subset of XML
// (elements, attributes, text, the five entities and numeric references; no DTDs), so a
// 100-line reader we fully control beats a general parser whose single-vs-repeated element
// guessing we would have to undo (docs/adr: vim25 client).

export interface XmlElement {
  /** Local name, without namespace prefix. */
  name: string;
  /** Attributes by their qualified name as written (e.g. "type", "xsi:type"). */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated text directly inside this element. */
  text: string;
}

const entities: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith("#x")) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith("#")) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return entities[ref] ?? whole;
  });
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&${({ "<": "lt", ">": "gt", "&": "amp", '"': "quot", "'": "apos" } as Record<string, string>)[c]};`);
}

function localName(qname: string): string {
  const colon = qname.indexOf(":");
  return colon < 0 ? qname : qname.slice(colon + 1);
}

const attrPattern = /([^\s=/>]+)\s*=\s*("([^"]*)"|'([^']*)')/g;

function parseAttrs(src: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const m of src.matchAll(attrPattern)) attrs[m[1]!] = decodeEntities(m[3] ?? m[4] ?? "");
  return attrs;
}

export class XmlSyntaxError extends Error {
  override name = "XmlSyntaxError";
}

/** Parses a document and returns its root element. */
export function parseXml(src: string): XmlElement {
  const root: XmlElement = { name: "#document", attrs: {}, children: [], text: "" };
  const stack: XmlElement[] = [root];
  let i = 0;
  while (i < src.length) {
    const lt = src.indexOf("<", i);
    const top = stack[stack.length - 1]!;
    if (lt < 0) {
      top.text += decodeEntities(src.slice(i));
      break;
    }
    if (lt > i) top.text += decodeEntities(src.slice(i, lt));
    i = readMarkup(src, lt, stack);
  }
  if (stack.length !== 1) throw new XmlSyntaxError(`unclosed element <${stack[stack.length - 1]!.name}>`);
  const doc = root.children[0];
  if (!doc) throw new XmlSyntaxError("no root element");
  return doc;
}

function indexOrThrow(src: string, token: string, from: number): number {
  const at = src.indexOf(token, from);
  if (at < 0) throw new XmlSyntaxError(`expected ${token} after offset ${from}`);
  return at;
}

/** Reads one piece of markup starting at `lt` and returns the offset after it. */
function readMarkup(src: string, lt: number, stack: XmlElement[]): number {
  const top = stack[stack.length - 1]!;
  if (src.startsWith("<?", lt)) return indexOrThrow(src, "?>", lt) + 2;
  if (src.startsWith("<!--", lt)) return indexOrThrow(src, "-->", lt) + 3;
  if (src.startsWith("<![CDATA[", lt)) {
    const end = indexOrThrow(src, "]]>", lt);
    top.text += src.slice(lt + 9, end);
    return end + 3;
  }
  if (src.startsWith("<!", lt)) throw new XmlSyntaxError("DTDs are not accepted");
  const gt = indexOrThrow(src, ">", lt);
  if (src[lt + 1] === "/") {
    const name = localName(src.slice(lt + 2, gt).trim());
    if (stack.length < 2 || top.name !== name) throw new XmlSyntaxError(`unexpected </${name}>`);
    stack.pop();
    return gt + 1;
  }
  const selfClosing = src[gt - 1] === "/";
  const body = src.slice(lt + 1, selfClosing ? gt - 1 : gt);
  const nameEnd = body.search(/[\s]/);
  const qname = nameEnd < 0 ? body : body.slice(0, nameEnd);
  const el: XmlElement = { name: localName(qname), attrs: nameEnd < 0 ? {} : parseAttrs(body.slice(nameEnd)), children: [], text: "" };
  top.children.push(el);
  if (!selfClosing) stack.push(el);
  return gt + 1;
}

/** The xsi:type of an element, whatever prefix the server bound the XMLSchema-instance namespace to. */
export function xsiType(el: XmlElement): string | undefined {
  for (const [k, v] of Object.entries(el.attrs)) {
    if (k.includes(":") && localName(k) === "type" && !k.startsWith("xmlns")) return localName(v);
  }
  return undefined;
}

export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

export function childrenNamed(el: XmlElement | undefined, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}

/** Follows a path of child names, e.g. path(el, "summary", "hardware"). */
export function path(el: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  let cur = el;
  for (const n of names) cur = child(cur, n);
  return cur;
}

export function textAt(el: XmlElement | undefined, ...names: string[]): string | undefined {
  return path(el, ...names)?.text;
}

export function numberAt(el: XmlElement | undefined, ...names: string[]): number | undefined {
  const t = textAt(el, ...names);
  if (t === undefined || t.trim() === "") return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}
