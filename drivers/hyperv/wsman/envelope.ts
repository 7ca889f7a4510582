// The WS-Management SOAP envelopes of a Windows Remote Shell (MS-WSMV 3.1.4.x): Create a cmd
// shell, run a Command in it, Receive its output streams, Signal it to terminate, Delete the
// shell. Namespaces and option names are Windows' own.
import { randomUUID } from "node:crypto";
import { escapeXml } from "./xml.ts";

export const shellUri = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
export const actions = {
  create: "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
  delete: "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
  command: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command",
  receive: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive",
  signal: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal",
} as const;
export const commandDone = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";
export const terminateSignal = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate";

interface Header {
  to: string;
  action: string;
  operationTimeoutSeconds: number;
  shellId?: string;
  options?: Record<string, string>;
}

function envelope(header: Header, body: string): string {
  const selector = header.shellId === undefined ? "" : `<w:SelectorSet><w:Selector Name="ShellId">${escapeXml(header.shellId)}</w:Selector></w:SelectorSet>`;
  const options =
    header.options === undefined
      ? ""
      : `<w:OptionSet>${Object.entries(header.options)
          .map(([name, value]) => `<w:Option Name="${name}">${escapeXml(value)}</w:Option>`)
          .join("")}</w:OptionSet>`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ` +
    `xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd" ` +
    `xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">` +
    `<s:Header>` +
    `<a:To>${escapeXml(header.to)}</a:To>` +
    `<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>` +
    `<w:ResourceURI s:mustUnderstand="true">${shellUri}</w:ResourceURI>` +
    `<a:Action s:mustUnderstand="true">${header.action}</a:Action>` +
    `<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>` +
    `<a:MessageID>uuid:${randomUUID()}</a:MessageID>` +
    `<w:Locale xml:lang="en-US" s:mustUnderstand="false"/>` +
    `<p:DataLocale xml:lang="en-US" s:mustUnderstand="false"/>` +
    `<w:OperationTimeout>PT${header.operationTimeoutSeconds}S</w:OperationTimeout>` +
    selector +
    options +
    `</s:Header><s:Body>${body}</s:Body></s:Envelope>`
  );
}

export function createShell(to: string, timeout: number): string {
  return envelope(
    { to, action: actions.create, operationTimeoutSeconds: timeout, options: { WINRS_NOPROFILE: "TRUE", WINRS_CODEPAGE: "65001" } },
    `<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`,
  );
}

export function command(to: string, timeout: number, shellId: string, program: string, args: string): string {
  return envelope(
    { to, action: actions.command, operationTimeoutSeconds: timeout, shellId, options: { WINRS_CONSOLEMODE_STDIN: "TRUE", WINRS_SKIP_CMD_SHELL: "TRUE" } },
    `<rsp:CommandLine><rsp:Command>${escapeXml(program)}</rsp:Command><rsp:Arguments>${escapeXml(args)}</rsp:Arguments></rsp:CommandLine>`,
  );
}

export function receive(to: string, timeout: number, shellId: string, commandId: string): string {
  return envelope(
    { to, action: actions.receive, operationTimeoutSeconds: timeout, shellId },
    `<rsp:Receive><rsp:DesiredStream CommandId="${escapeXml(commandId)}">stdout stderr</rsp:DesiredStream></rsp:Receive>`,
  );
}

export function signal(to: string, timeout: number, shellId: string, commandId: string): string {
  return envelope(
    { to, action: actions.signal, operationTimeoutSeconds: timeout, shellId },
    `<rsp:Signal CommandId="${escapeXml(commandId)}"><rsp:Code>${terminateSignal}</rsp:Code></rsp:Signal>`,
  );
}

export function deleteShell(to: string, timeout: number, shellId: string): string {
  return envelope({ to, action: actions.delete, operationTimeoutSeconds: timeout, shellId }, "");
}
