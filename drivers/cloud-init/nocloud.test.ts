import { describe, expect, it } from "vitest";
import { isoImage, noCloudSeed, readIsoImage } from "./nocloud.ts";

describe("NoCloud seed", () => {
  it("is an ISO9660 image labelled cidata with user-data and meta-data (instance id, hostname), as cloud-init's NoCloud datasource reads it", () => {
    const image = noCloudSeed({ userData: "#cloud-config\nfinal_message: hello\n" }, "6d0b042a", "web");
    expect(image.length % 2048).toBe(0);
    expect(image.toString("ascii", 16 * 2048 + 1, 16 * 2048 + 6)).toBe("CD001"); // the primary volume descriptor
    expect(image.toString("ascii", 17 * 2048 + 1, 17 * 2048 + 6)).toBe("CD001"); // the set terminator
    expect(image[17 * 2048]).toBe(255);
    const { label, files } = readIsoImage(image);
    expect(label).toBe("cidata");
    expect([...files.keys()].sort()).toEqual(["meta-data", "user-data"]);
    expect(files.get("user-data")).toBe("#cloud-config\nfinal_message: hello\n");
    expect(files.get("meta-data")).toBe("instance-id: 6d0b042a\nlocal-hostname: web\n");
  });

  it("carries network-config when given, and is the same bytes for the same data (a retried create uploads the same seed)", () => {
    const data = { userData: "#cloud-config\n", networkConfig: "version: 2\n" };
    const a = noCloudSeed(data, "u", "h");
    expect(readIsoImage(a).files.get("network-config")).toBe("version: 2\n");
    expect(a.equals(noCloudSeed(data, "u", "h"))).toBe(true);
  });

  it("holds files larger than a sector, byte for byte", () => {
    const big = "x".repeat(5000) + "é";
    expect(readIsoImage(isoImage("cidata", new Map([["user-data", big]]))).files.get("user-data")).toBe(big);
  });
});
