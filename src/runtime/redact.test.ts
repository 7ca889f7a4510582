import { describe, expect, it } from "vitest";
import { redactText } from "./redact.ts";

describe("redactText", () => {
  it("masks the user info of URLs, credentials in query strings and Authorization values", () => {
    expect(redactText("dial qemu+tcp://root:hunter2@10.0.0.5/system failed")).toBe("dial qemu+tcp://[redacted]@10.0.0.5/system failed");
    expect(redactText("https://svc-omni@esx1.example.com/sdk")).toBe("https://[redacted]@esx1.example.com/sdk");
    expect(redactText("GET https://xen1/rpc?session=1&password=p%40ss&x=1")).toBe("GET https://xen1/rpc?session=1&password=[redacted]&x=1");
    expect(redactText('{"Authorization": "Basic cm9vdDpodW50ZXIy"}')).toBe('{"Authorization": "Basic [redacted]"}');
    expect(redactText("authorization=Bearer abc.def.ghi")).toBe("authorization=Bearer [redacted]");
  });

  it("leaves ordinary text as it is", () => {
    for (const text of ["connected to QEMU 7.2.0", "unix:///var/run/docker.sock", "user team-a would use 12 vCPUs of 10", "mail me at ops@example.com", "https://esx1.example.com/sdk"]) {
      expect(redactText(text)).toBe(text);
    }
  });
});
