// FAKE WinRM — a Windows Remote Management endpoint (HTTPS, /wsman, Basic authentication) in
// process on a loopback port, for the Hyper-V driver's tests. It answers the WS-Management
// envelopes of a Windows Remote Shell as MS-WSMV describes them — Create (a cmd shell),
// Command, Receive (streams base64, CommandState Running/Done with ExitCode, w:TimedOut faults
// when nothing arrives within OperationTimeout), Signal, Delete — and runs
// `powershell.exe -EncodedCommand` against a fake Hyper-V host (./hyperv.ts). Errors go to
// stderr as CLIXML, as powershell.exe writes them over WinRM. It is a fake: no Windows here.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeHyperV } from "./hyperv.ts";
import { clixmlError, PsError } from "./powershell.ts";

export interface FakeWinrmOptions {
  username?: string;
  password?: string;
  /** The loopback address it listens at (default 127.0.0.1): two fake hosts at two addresses are two machines to Move-VM. */
  address?: string;
  /** The host's computer name (default FAKE-HYPERV-1). */
  computerName?: string;
}

interface RunningCommand {
  stdout: Buffer[];
  stderr: Buffer[];
  done: boolean;
  exitCode: number;
  wake: (() => void)[];
}

const ns =
  'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ' +
  'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" ' +
  'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer"';
const shellNs = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";

/** CreateProcess's limit on a command line, in characters (powershell.exe -EncodedCommand counts whole). */
const commandLineMax = 32_767;

export class FakeWinrmServer {
  readonly hyperv: FakeHyperV;
  /** Every script powershell.exe was asked to run, decoded (tests check what was sent). */
  readonly scripts: string[] = [];
  /** Every WS-Management action received, by its last path segment (Create, Command, Receive, Signal, Delete). */
  readonly actions: string[] = [];
  /** WSManFault codes answered, in order (e.g. 2150858793: a Receive that timed out). */
  readonly faults: string[] = [];
  /** The PEM of the fake's self-signed certificate (for the Host's CA). */
  readonly caPem: string;
  private readonly username: string;
  private readonly password: string;
  private readonly shells = new Map<string, Map<string, RunningCommand>>();
  private readonly server: Server;
  private readonly address: string;

  private constructor(options: FakeWinrmOptions, cert: { key: string; cert: string }) {
    this.address = options.address ?? "127.0.0.1";
    this.hyperv = new FakeHyperV(undefined, undefined, options.computerName);
    this.username = options.username ?? "Administrator";
    this.password = options.password ?? "fake-winrm-password";
    this.caPem = cert.cert;
    this.server = createServer(cert, (req, res) => void this.serve(req, res));
  }

  static async start(options: FakeWinrmOptions = {}): Promise<FakeWinrmServer> {
    const fake = new FakeWinrmServer(options, selfSignedCertificate(options.address ?? "127.0.0.1"));
    await new Promise<void>((resolve) => fake.server.listen(0, fake.address, resolve));
    return fake;
  }

  get url(): string {
    return `https://${this.address}:${(this.server.address() as AddressInfo).port}/wsman`;
  }

  /** Lets Move-VM on either host reach the other by its address, as two hosts set up for live migration are. */
  linkForMigration(other: FakeWinrmServer): void {
    this.hyperv.migrations.peers.set(other.address, other.hyperv);
    other.hyperv.migrations.peers.set(this.address, this.hyperv);
  }

  get openShells(): number {
    return this.shells.size;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== "POST" || req.url !== "/wsman") return void res.writeHead(404).end();
    if (req.headers.authorization !== `Basic ${Buffer.from(`${this.username}:${this.password}`).toString("base64")}`) {
      return void res.writeHead(401, { "www-authenticate": 'Negotiate, Basic realm="WSMAN"', "content-length": 0 }).end();
    }
    const body = Buffer.concat(chunks).toString("utf8");
    const action = /<(?:\w+:)?Action\b[^>]*>([^<]+)<\/(?:\w+:)?Action>/.exec(body)?.[1] ?? "";
    const shellId = /<(?:\w+:)?Selector Name="ShellId">([^<]+)</.exec(body)?.[1];
    this.actions.push(action.slice(action.lastIndexOf("/") + 1));
    const timeout = Number(/<(?:\w+:)?OperationTimeout>PT([\d.]+)S</.exec(body)?.[1] ?? "60");
    try {
      reply(res, 200, await this.handle(action, shellId, body, timeout));
    } catch (err) {
      const f = err instanceof Fault ? err : new Fault("s:Receiver", "w:InternalError", "2150858752", String(err));
      this.faults.push(f.code);
      reply(res, 500, `<s:Fault><s:Code><s:Value>${f.value}</s:Value><s:Subcode><s:Value>${f.subcode}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">${xml(f.message)}</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="${f.code}" Machine="FAKE-HYPERV-1"><f:Message>${xml(f.message)}</f:Message></f:WSManFault></s:Detail></s:Fault>`);
    }
  }

  private async handle(action: string, shellId: string | undefined, body: string, timeout: number): Promise<string> {
    if (action.endsWith("/transfer/Create")) {
      const id = randomUUID().toUpperCase();
      this.shells.set(id, new Map());
      return `<x:ResourceCreated><a:Address>${xml(this.url)}</a:Address><a:ReferenceParameters><w:ResourceURI>${shellNs}/cmd</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">${id}</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell><rsp:ShellId>${id}</rsp:ShellId><rsp:ResourceUri>${shellNs}/cmd</rsp:ResourceUri><rsp:State>Connected</rsp:State></rsp:Shell>`;
    }
    const commands = shellId === undefined ? undefined : this.shells.get(shellId);
    if (commands === undefined) throw new Fault("s:Sender", "w:InvalidSelectors", "2150858843", `The request for the Windows Remote Shell with ShellId ${shellId ?? "(none)"} failed because the shell was not found on the server.`);
    if (action.endsWith("/transfer/Delete")) {
      this.shells.delete(shellId!);
      return "";
    }
    if (action.endsWith("/shell/Command")) {
      const id = randomUUID().toUpperCase();
      const program = unxml(/<(?:\w+:)?Command>([\s\S]*?)<\/(?:\w+:)?Command>/.exec(body)?.[1] ?? "");
      const args = unxml(/<(?:\w+:)?Arguments>([\s\S]*?)<\/(?:\w+:)?Arguments>/.exec(body)?.[1] ?? "");
      // Windows starts the process with CreateProcess, whose command line holds at most 32767 characters
      if (program.length + 1 + args.length > commandLineMax) throw new Fault("s:Receiver", "w:InternalError", "206", "The filename or extension is too long.");
      commands.set(id, this.execute(program, args));
      return `<rsp:CommandResponse><rsp:CommandId>${id}</rsp:CommandId></rsp:CommandResponse>`;
    }
    const commandId = /CommandId="([^"]+)"/.exec(body)?.[1] ?? "";
    const command = commands.get(commandId);
    if (command === undefined) throw new Fault("s:Sender", "w:InvalidParameter", "2150858843", `The command ${commandId} was not found in shell ${shellId!}.`);
    if (action.endsWith("/shell/Signal")) {
      command.done = true;
      command.exitCode = command.exitCode === 0 ? -1073741510 : command.exitCode;
      for (const wake of command.wake.splice(0)) wake();
      return `<rsp:SignalResponse/>`;
    }
    if (action.endsWith("/shell/Receive")) return this.receive(command, commandId, timeout);
    throw new Fault("s:Sender", "w:ActionNotSupported", "2150858771", `The action ${action} is not supported by the service.`);
  }

  private async receive(command: RunningCommand, id: string, timeout: number): Promise<string> {
    if (!command.done && command.stdout.length === 0 && command.stderr.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeout * 1000);
        command.wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (!command.done && command.stdout.length === 0 && command.stderr.length === 0) {
      throw new Fault("s:Receiver", "w:TimedOut", "2150858793", "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.");
    }
    const streams = [
      ...command.stdout.splice(0).map((b) => `<rsp:Stream Name="stdout" CommandId="${id}">${b.toString("base64")}</rsp:Stream>`),
      ...command.stderr.splice(0).map((b) => `<rsp:Stream Name="stderr" CommandId="${id}">${b.toString("base64")}</rsp:Stream>`),
    ];
    if (!command.done) return `<rsp:ReceiveResponse>${streams.join("")}<rsp:CommandState CommandId="${id}" State="${shellNs}/CommandState/Running"/></rsp:ReceiveResponse>`;
    streams.push(`<rsp:Stream Name="stdout" CommandId="${id}" End="true"></rsp:Stream>`, `<rsp:Stream Name="stderr" CommandId="${id}" End="true"></rsp:Stream>`);
    return `<rsp:ReceiveResponse>${streams.join("")}<rsp:CommandState CommandId="${id}" State="${shellNs}/CommandState/Done"><rsp:ExitCode>${command.exitCode}</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`;
  }

  /** Starts the program; its output arrives in the command's streams as it is produced. */
  private execute(program: string, args: string): RunningCommand {
    const command: RunningCommand = { stdout: [], stderr: [], done: false, exitCode: 0, wake: [] };
    const finish = (exitCode: number, stdout: string, stderr: string): void => {
      if (command.done) return; // terminated by a Signal
      if (stdout !== "") command.stdout.push(Buffer.from(stdout, "utf8"));
      if (stderr !== "") command.stderr.push(Buffer.from(stderr, "utf8"));
      command.exitCode = exitCode;
      command.done = true;
      for (const wake of command.wake.splice(0)) wake();
    };
    const encoded = /-EncodedCommand\s+([A-Za-z0-9+/=]+)/i.exec(args)?.[1];
    if (!/^powershell(\.exe)?$/i.test(program) || encoded === undefined) {
      finish(1, "", `'${program}' is not recognized as an internal or external command, operable program or batch file.\r\n`);
      return command;
    }
    const script = Buffer.from(encoded, "base64").toString("utf16le");
    this.scripts.push(script);
    this.hyperv.run(script).then(
      // powershell.exe over WinRM writes progress records to stderr as CLIXML even on success.
      (lines) => finish(0, lines.map((l) => `${l}\r\n`).join(""), progressClixml),
      (err: unknown) => {
        const e = err instanceof PsError ? err : new PsError("", String(err), "NotSpecified", "FakeInternalError");
        finish(1, "", clixmlError(e, script.split("\n").find((l) => l.includes(e.command)) ?? ""));
      },
    );
    return command;
  }
}

/** The "Preparing modules for first use." progress record real hosts send on stderr. */
const progressClixml =
  '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj></Objs>';

class Fault extends Error {
  readonly value: string;
  readonly subcode: string;
  readonly code: string;
  constructor(value: string, subcode: string, code: string, message: string) {
    super(message);
    this.value = value;
    this.subcode = subcode;
    this.code = code;
  }
}

function reply(res: ServerResponse, status: number, body: string): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xml:lang="en-US" ${ns}><s:Header><a:Action>${status === 200 ? "response" : "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"}</a:Action><a:MessageID>uuid:${randomUUID()}</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To></s:Header><s:Body>${body}</s:Body></s:Envelope>`;
  res.writeHead(status, { "content-type": "application/soap+xml;charset=UTF-8", "content-length": Buffer.byteLength(text) }).end(text);
}

function xml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function unxml(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");
}

/** A throw-away certificate for the address (and localhost), openssl, EC P-256: fast. */
function selfSignedCertificate(address: string): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "fake-winrm-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=fake-hyperv", "-addext", `subjectAltName=IP:${address},DNS:localhost`], { stdio: "ignore" });
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
