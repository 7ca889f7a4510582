// FAKE WinRM — a tiny PowerShell: the subset of the language the Hyper-V driver sends
// (statements, `$var = …`, pipelines, named parameters and switches, single-quoted strings with
// doubled quotes — the typographic ‘ ’ ‚ ‛ included, as PowerShell does — numbers, comma lists,
// hashtable literals `@{Name=value; …}` as Invoke-CimMethod -Arguments takes them, and the one
// expression the driver writes a file's bytes with: `([Convert]::FromBase64String('…'))`).
// Anything else (double quotes, sub-expressions, script blocks) is a parse error, so a value
// that escaped its quoting shows up as a failure instead of running. It is not PowerShell.

export class PsError extends Error {
  readonly category: string;
  readonly errorId: string;
  readonly command: string;

  constructor(command: string, message: string, category: string, errorId: string) {
    super(message);
    this.command = command;
    this.category = category;
    this.errorId = errorId;
  }
}

type Token =
  | { t: "sep" }
  | { t: "pipe" }
  | { t: "eq" }
  | { t: "comma" }
  | { t: "hash" }
  | { t: "end" }
  | { t: "param"; v: string }
  | { t: "string"; v: string }
  | { t: "number"; v: number }
  | { t: "var"; v: string }
  | { t: "word"; v: string }
  | { t: "bytes"; v: string };

export type PsValue = string | number | boolean | null | PsValue[] | { [k: string]: PsValue } | object;

/** The bytes of `([Convert]::FromBase64String('…'))`: a parenthesised static call, the only expression the fake knows. */
const fromBase64 = "([Convert]::FromBase64String(";

export interface PsCommand {
  name: string;
  params: Record<string, PsValue>;
}

export type PsStatement = { assign?: string; source?: string; literal?: PsValue; commands: PsCommand[] };

const quotes = "'\u2018\u2019\u201A\u201B";
const units: Record<string, number> = { kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

function parseError(message: string): PsError {
  return new PsError("", `FAKE PowerShell cannot parse this script: ${message}`, "ParserError", "UnsupportedSyntax");
}

/** A single-quoted literal starting at i: its value and the index after it. */
function readString(script: string, start: number): [string, number] {
  let value = "";
  let i = start + 1;
  while (i < script.length) {
    const d = script[i]!;
    if (!quotes.includes(d)) {
      value += d;
      i++;
    } else if (i + 1 < script.length && quotes.includes(script[i + 1]!)) {
      value += d; // a doubled quote is one literal quote
      i += 2;
    } else return [value, i + 1];
  }
  throw parseError("unterminated string");
}

/** Punctuation that is a token by itself (`@{` opens a hashtable, `}` closes it). */
const punctuation: Record<string, Token> = { "\n": { t: "sep" }, ";": { t: "sep" }, "|": { t: "pipe" }, "=": { t: "eq" }, ",": { t: "comma" }, "@{": { t: "hash" }, "}": { t: "end" } };

export function tokenize(script: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < script.length) {
    const c = script[i]!;
    const mark = punctuation[script.slice(i, i + 2)] ?? punctuation[c];
    if (script.startsWith(fromBase64, i)) {
      const [value, next] = readString(script, i + fromBase64.length);
      if (script.slice(next, next + 2) !== "))") throw parseError(`unterminated FromBase64String at ${i}`);
      tokens.push({ t: "bytes", v: value });
      i = next + 2;
    } else if (mark !== undefined) {
      tokens.push(mark);
      i += c === "@" ? 2 : 1;
    } else if (c === " " || c === "\t" || c === "\r") i++;
    else if (quotes.includes(c)) {
      const [value, next] = readString(script, i);
      tokens.push({ t: "string", v: value });
      i = next;
    } else if (c === "-" && /[A-Za-z]/.test(script[i + 1] ?? "")) {
      const m = /^-([A-Za-z]+)/.exec(script.slice(i))!;
      tokens.push({ t: "param", v: m[1]! });
      i += m[0].length;
    } else if (/\d/.test(c)) {
      const m = /^(\d+)(kb|mb|gb|tb)?/i.exec(script.slice(i))!;
      tokens.push({ t: "number", v: Number(m[1]) * (m[2] === undefined ? 1 : units[m[2].toLowerCase()]!) });
      i += m[0].length;
    } else if (c === "$") {
      const m = /^\$(\w+)/.exec(script.slice(i));
      if (m === null) throw parseError(`"$" at ${i}`);
      tokens.push({ t: "var", v: m[1]! });
      i += m[0].length;
    } else if (/[A-Za-z]/.test(c)) {
      const m = /^[A-Za-z][\w.-]*/.exec(script.slice(i))!;
      tokens.push({ t: "word", v: m[0] });
      i += m[0].length;
    } else throw parseError(`unexpected ${JSON.stringify(c)} at ${i}`);
  }
  return tokens;
}

/** Parameters that take no value, per the cmdlets the fake knows. */
const switches = new Set(["force", "turnoff", "asjob", "novhd", "compress", "staticmemory", "passthru", "includestorage", "dynamic", "differencing"]);

export function parse(script: string): PsStatement[] {
  const tokens = tokenize(script);
  const statements: PsStatement[] = [];
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  const value = (): PsValue => {
    const first = tokens[i++];
    const one = (tok: Token | undefined): PsValue => {
      if (tok === undefined) throw parseError("a parameter lacks its value");
      if (tok.t === "string" || tok.t === "number" || tok.t === "word") return tok.v;
      if (tok.t === "hash") return hashtable();
      if (tok.t === "bytes") return Buffer.from(tok.v, "base64");
      if (tok.t === "var") {
        if (tok.v.toLowerCase() === "true") return true;
        if (tok.v.toLowerCase() === "false") return false;
        if (tok.v.toLowerCase() === "null") return null;
        return { variable: tok.v };
      }
      throw parseError(`unexpected ${tok.t}`);
    };
    const first1 = one(first);
    if (peek()?.t !== "comma") return first1;
    const list: PsValue[] = [first1];
    while (peek()?.t === "comma") {
      i++;
      list.push(one(tokens[i++]));
    }
    return list;
  };
  while (i < tokens.length) {
    if (peek()?.t === "sep") {
      i++;
      continue;
    }
    const statement: PsStatement = { commands: [] };
    if (peek()?.t === "var" && tokens[i + 1]?.t === "eq") {
      statement.assign = (tokens[i] as { v: string }).v;
      i += 2;
      const next = peek();
      if (next?.t === "string" || next?.t === "number") {
        statement.literal = next.v;
        i++;
        statements.push(statement);
        continue;
      }
    }
    if (peek()?.t === "var") statement.source = (tokens[i++] as { v: string }).v;
    else statement.commands.push(command());
    while (peek()?.t === "pipe") {
      i++;
      statement.commands.push(command());
    }
    const end = peek();
    if (end !== undefined && end.t !== "sep") throw parseError(`unexpected ${end.t} after a pipeline`);
    statements.push(statement);
  }
  return statements;

  /** `@{Key=value; …}` after its opening token: keys are words or strings, values as a parameter's. */
  function hashtable(): Record<string, PsValue> {
    const table: Record<string, PsValue> = {};
    for (;;) {
      const key = tokens[i++];
      if (key?.t === "end") return table;
      if (key?.t === "sep") continue;
      if ((key?.t !== "word" && key?.t !== "string") || tokens[i++]?.t !== "eq") throw parseError("a hashtable entry must be Key=value");
      table[key.v] = value();
    }
  }

  function command(): PsCommand {
    const name = tokens[i++];
    if (name?.t !== "word") throw parseError(`a command name was expected, not ${name?.t ?? "the end"}`);
    const params: Record<string, PsValue> = {};
    while (peek()?.t === "param") {
      const p = (tokens[i++] as { v: string }).v;
      params[p.toLowerCase()] = switches.has(p.toLowerCase()) ? true : value();
    }
    const next = peek();
    if (next !== undefined && next.t !== "pipe" && next.t !== "sep") throw parseError(`positional arguments are not supported (${next.t} after ${name.v})`);
    return { name: name.v, params };
  }
}

/** PowerShell's CLIXML error stream for an error record, as powershell.exe writes it over WinRM. */
export function clixmlError(err: PsError, line: string): string {
  const escape = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\r\n/g, "_x000D__x000A_");
  const noun = err.command.replace(/-/g, "");
  const lines = [
    `${err.command === "" ? "" : `${err.command} : `}${err.message}\r\n`,
    `At line:1 char:1\r\n`,
    `+ ${line}\r\n`,
    `    + CategoryInfo          : ${err.category}: (:) [${err.command}], VirtualizationException\r\n`,
    `    + FullyQualifiedErrorId : ${err.errorId}${noun === "" ? "" : `,Microsoft.HyperV.PowerShell.Commands.${noun}`}\r\n`,
    ` \r\n`,
  ];
  return `#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">${lines.map((l) => `<S S="Error">${escape(l)}</S>`).join("")}</Objs>`;
}

/** ConvertTo-Json's output: one object for one input, an array for several, nothing for none. */
export function convertToJson(items: PsValue[], compress: boolean): string | undefined {
  if (items.length === 0) return undefined;
  const value = items.length === 1 ? items[0] : items;
  return compress ? JSON.stringify(value) : JSON.stringify(value, null, 4);
}

/** A parameter value as the text PowerShell would bind to a [string] parameter. */
export function text(value: PsValue | undefined): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? String(value) : JSON.stringify(value);
}
