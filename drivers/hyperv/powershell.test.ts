import { describe, expect, it } from "vitest";
import { encodeCommand, errorText, psInt, psQuote } from "./powershell.ts";

describe("psQuote", () => {
  const cases: Record<string, { value: string; want: string }> = {
    "a plain name": { value: "team-a.web-1", want: "'team-a.web-1'" },
    "an apostrophe is doubled": { value: "it's", want: "'it''s'" },
    "typographic quotes PowerShell also ends strings with are doubled": { value: "a\u2019b\u2018c\u201Ad\u201Be", want: "'a\u2019\u2019b\u2018\u2018c\u201A\u201Ad\u201B\u201Be'" },
    "an injection attempt stays one literal": { value: "x'; Remove-VM -Name * -Force; '", want: "'x''; Remove-VM -Name * -Force; '''" },
    "dollar signs and double quotes are not expanded in single quotes": { value: '$(Stop-Computer) "$env:USERNAME"', want: "'$(Stop-Computer) \"$env:USERNAME\"'" },
  };
  for (const [name, c] of Object.entries(cases)) it(name, () => expect(psQuote(c.value)).toBe(c.want));
});

describe("psInt", () => {
  it("accepts whole numbers and refuses anything else", () => {
    expect(psInt(536870912)).toBe("536870912");
    expect(() => psInt(1.5)).toThrow();
    expect(() => psInt(Number.NaN)).toThrow();
  });
});

describe("encodeCommand", () => {
  it("is base64 of UTF-16LE, as powershell.exe -EncodedCommand expects", () => {
    expect(encodeCommand("Get-VM")).toBe(Buffer.from("G\0e\0t\0-\0V\0M\0", "latin1").toString("base64"));
  });
});

describe("errorText", () => {
  it("reads the error lines of PowerShell's CLIXML stderr", () => {
    const clixml =
      '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">' +
      '<S S="Error">Start-VM : &apos;vm&apos; failed to change state._x000D__x000A_</S>' +
      '<S S="Error">    + FullyQualifiedErrorId : InvalidState,Microsoft.HyperV.PowerShell.Commands.StartVM_x000D__x000A_</S></Objs>';
    expect(errorText(clixml)).toBe("Start-VM : 'vm' failed to change state.\r\n    + FullyQualifiedErrorId : InvalidState,Microsoft.HyperV.PowerShell.Commands.StartVM");
  });

  it("keeps plain text as it is", () => expect(errorText(" plain failure \n")).toBe("plain failure"));
});
