// Building PowerShell for the remote host safely. Every value goes into a single-quoted string
// literal, the only PowerShell literal with no expansion at all; inside one, a quote is escaped
// by doubling it. PowerShell also treats the typographic quotes ‘ ’ ‚ ‛ as single quotes, so
// those are doubled too — otherwise a name like “x’; Remove-VM …” would end the literal early.
// The script travels as -EncodedCommand (UTF-16LE, base64), so no cmd.exe quoting is involved.

const singleQuotes = /['\u2018\u2019\u201A\u201B]/g;

/** A PowerShell single-quoted literal holding exactly value. */
export function psQuote(value: string): string {
  return `'${value.replace(singleQuotes, "$&$&")}'`;
}

/** A PowerShell integer literal; refuses anything that is not a finite whole number. */
export function psInt(value: number): string {
  if (!Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`);
  return String(value);
}

/** The script as powershell.exe's -EncodedCommand wants it: base64 of UTF-16LE. */
export function encodeCommand(script: string): string {
  return Buffer.from(script, "utf16le").toString("base64");
}

/** powershell.exe's arguments to run script without a profile, prompts or progress output. */
export function powershellArguments(script: string): string {
  return `-NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ${encodeCommand(script)}`;
}

/**
 * The error text of PowerShell's stderr. Over WinRM, powershell.exe writes its error records as
 * CLIXML ("#< CLIXML" then <S S="Error">…</S> lines, with _xHHHH_ escapes for control
 * characters); plain text is returned as it is.
 */
export function errorText(stderr: string): string {
  const start = stderr.indexOf("#< CLIXML");
  if (start < 0) return stderr.trim();
  const lines = [...stderr.slice(start).matchAll(/<S S="Error">([\s\S]*?)<\/S>/g)].map((m) =>
    (m[1] ?? "")
      .replace(/_x([0-9A-Fa-f]{4})_/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, "&"),
  );
  return lines.join("").trim();
}
