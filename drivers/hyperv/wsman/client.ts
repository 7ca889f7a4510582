// A small WS-Management client for Windows Remote Shell: runs one program per shell (Create,
// Command, Receive until the command is Done, Delete) over HTTPS with Basic authentication.
// Why our own and not winrm-client: docs/adr/0009-xenserver-and-hyperv-drivers.md.
import { Agent, request } from "node:https";
import type { TlsSettings } from "../../contract/index.ts";
import * as envelopes from "./envelope.ts";
import { find, findAll, parseXml, type XmlElement } from "./xml.ts";

export interface WsmanOptions {
  /** https://host:5986/wsman */
  url: URL;
  username: string;
  password: string;
  tls?: TlsSettings;
  /** How long the host may hold a Receive open when there is no output (WS-Man OperationTimeout). */
  operationTimeoutSeconds?: number;
  /** Shells open at once; Windows allows 30 per user by default (MaxShellsPerUser). */
  maxShells?: number;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export type WsmanFailure = "auth" | "connection" | "fault" | "http" | "aborted";

/** A WS-Management failure; `wsmanCode` is the WSManFault code (e.g. 2150858793 = timed out). */
export class WsmanError extends Error {
  readonly failure: WsmanFailure;
  readonly status: number | undefined;
  readonly wsmanCode: string | undefined;

  constructor(failure: WsmanFailure, message: string, details: { status?: number; wsmanCode?: string; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "WsmanError";
    this.failure = failure;
    this.status = details.status;
    this.wsmanCode = details.wsmanCode;
  }
}

/** WSManFault code of a Receive that saw no output within OperationTimeout: ask again. */
const timedOut = "2150858793";

export class WsmanClient {
  private readonly url: URL;
  private readonly authorization: string;
  private readonly agent: Agent;
  private readonly operationTimeout: number;
  private readonly maxShells: number;
  private open = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(options: WsmanOptions) {
    this.url = options.url;
    // Built once; the password itself is never kept in a field or put in a message.
    this.authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`, "utf8").toString("base64")}`;
    this.operationTimeout = options.operationTimeoutSeconds ?? 20;
    this.maxShells = options.maxShells ?? 8;
    const tls = options.tls;
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: this.maxShells,
      ...(tls?.caPem === undefined ? {} : { ca: tls.caPem }),
      ...(tls?.serverName === undefined ? {} : { servername: tls.serverName }),
      rejectUnauthorized: tls?.insecureSkipVerify !== true,
    });
  }

  /** Runs program with args in a fresh shell and returns its output once it has exited. */
  async run(program: string, args: string, signal?: AbortSignal): Promise<CommandResult> {
    await this.acquire();
    try {
      const shell = await this.post(envelopes.createShell(this.url.href, this.operationTimeout), signal);
      const shellId = find(shell, "ShellId")?.text ?? find(shell, "Selector")?.text;
      if (shellId === undefined || shellId === "") throw new WsmanError("http", "the host created a shell but sent no ShellId");
      try {
        const started = await this.post(envelopes.command(this.url.href, this.operationTimeout, shellId, program, args), signal);
        const commandId = find(started, "CommandId")?.text;
        if (commandId === undefined || commandId === "") throw new WsmanError("http", "the host started a command but sent no CommandId");
        return await this.receiveAll(shellId, commandId, signal);
      } finally {
        await this.post(envelopes.deleteShell(this.url.href, this.operationTimeout, shellId)).catch(() => undefined);
      }
    } finally {
      this.release();
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private async receiveAll(shellId: string, commandId: string, signal?: AbortSignal): Promise<CommandResult> {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    for (;;) {
      if (isAborted(signal)) {
        await this.post(envelopes.signal(this.url.href, this.operationTimeout, shellId, commandId)).catch(() => undefined);
        throw new WsmanError("aborted", "the command was aborted");
      }
      let response: XmlElement;
      try {
        response = await this.post(envelopes.receive(this.url.href, this.operationTimeout, shellId, commandId), signal);
      } catch (err) {
        if (err instanceof WsmanError && err.wsmanCode === timedOut) continue;
        if (isAborted(signal)) {
          // Tell the host to end the program too; deleting the shell (by the caller) would as well.
          await this.post(envelopes.signal(this.url.href, this.operationTimeout, shellId, commandId)).catch(() => undefined);
          throw new WsmanError("aborted", "the command was aborted", { cause: err });
        }
        throw err;
      }
      for (const stream of findAll(response, "Stream")) {
        const text = stream.text.trim();
        if (text === "") continue;
        (stream.attributes["Name"] === "stderr" ? stderr : stdout).push(Buffer.from(text, "base64"));
      }
      const state = find(response, "CommandState");
      if (state?.attributes["State"] === envelopes.commandDone) {
        const exitCode = Number(find(state, "ExitCode")?.text ?? "0");
        return { stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8"), exitCode };
      }
    }
  }

  private post(body: string, signal?: AbortSignal): Promise<XmlElement> {
    const timeoutMs = (this.operationTimeout + 15) * 1000;
    return new Promise((resolve, reject) => {
      const req = request(
        this.url,
        {
          method: "POST",
          agent: this.agent,
          headers: { authorization: this.authorization, "content-type": "application/soap+xml;charset=UTF-8", "content-length": Buffer.byteLength(body) },
          timeout: timeoutMs,
          ...(signal === undefined ? {} : { signal }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (err) => reject(new WsmanError("connection", `the response broke off: ${err.message}`, { cause: err })));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const status = res.statusCode ?? 0;
            if (status === 401) return reject(new WsmanError("auth", "the host refused the credentials (HTTP 401)", { status }));
            try {
              const xml = parseXml(text);
              const fault = find(xml, "Fault");
              if (fault !== undefined) return reject(faultError(fault, status));
              if (status < 200 || status > 299) return reject(new WsmanError("http", `HTTP ${status}`, { status }));
              resolve(xml);
            } catch {
              reject(new WsmanError("http", `HTTP ${status}: not a SOAP response`, { status }));
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", (err: NodeJS.ErrnoException) => {
        const failure = err.name === "AbortError" ? "aborted" : "connection";
        reject(new WsmanError(failure, `${err.code ?? ""} ${err.message}`.trim(), { cause: err }));
      });
      req.end(body);
    });
  }

  private async acquire(): Promise<void> {
    if (this.open < this.maxShells) {
      this.open++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.open--;
  }
}

/** A function, not an inline check: TypeScript would keep the loop-top narrowing inside the catch. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function faultError(fault: XmlElement, status: number): WsmanError {
  const detail = find(fault, "WSManFault");
  const message = find(fault, "Message")?.text.trim() ?? find(fault, "Text")?.text.trim() ?? "SOAP fault";
  const subcode = find(find(fault, "Subcode") ?? fault, "Value")?.text;
  const details: { status: number; wsmanCode?: string } = { status };
  const code = detail?.attributes["Code"];
  if (code !== undefined) details.wsmanCode = code;
  return new WsmanError("fault", `${subcode ?? "fault"}: ${message}`, details);
}
