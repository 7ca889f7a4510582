// Structured JSON logs, one object per line. Every line about an object carries its key; fields
// whose names look like credentials are replaced before anything is written, so a careless
// `log.info("...", { password })` cannot leak a secret.
import { redactText } from "./redact.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines all carry these fields (e.g. controller and key). */
  with(fields: LogFields): Logger;
}

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const secretName = /pass(word|phrase)?|secret|token|credential|private.?key|authorization|cookie|^data$|^stringData$/i;

/** Replaces the values of credential-like fields, at any depth, and credentials quoted in text (redact.ts). */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redactText(value);
  if (depth > 8 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return { message: redactText(value.message), name: value.name };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = secretName.test(k) ? "[redacted]" : redact(v, depth + 1);
  return out;
}

export function createLogger(options: { level?: LogLevel; write?: (line: string) => void; fields?: LogFields } = {}): Logger {
  const min = order[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stdout.write(line + "\n"));
  const base = options.fields ?? {};
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (order[level] < min) return;
    const record = redact({ ts: new Date().toISOString(), level, msg, ...base, ...fields }) as LogFields;
    write(JSON.stringify(record));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    with: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** A short, secret-free description of an error (API errors carry headers we do not want). */
export function describeError(err: unknown): string {
  if (err && typeof err === "object" && "code" in err && "body" in err) {
    const body = (err as { body?: unknown }).body;
    const message = typeof body === "string" ? safeMessage(body) : (body as { message?: string } | undefined)?.message;
    return `HTTP ${String((err as { code: unknown }).code)}${message ? `: ${message}` : ""}`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

function safeMessage(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { message?: string }).message;
  } catch {
    return body.slice(0, 200);
  }
}

/** The HTTP status of an API error, if it is one. */
export function statusCode(err: unknown): number | undefined {
  if (err && typeof err === "object") {
    const e = err as { code?: unknown; statusCode?: unknown };
    if (typeof e.code === "number") return e.code;
    if (typeof e.statusCode === "number") return e.statusCode;
  }
  return undefined;
}
