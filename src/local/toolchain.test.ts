import { describe, expect, it } from "vitest";
import { parseVersions, toolchain } from "./toolchain.ts";

describe("parseVersions", () => {
  it("expands defaults and references the way the shell does", () => {
    const vars = parseVersions(
      ["A=1.2", "CACHE=${CACHE:-$HOME/.cache/x}", "BIN=$CACHE/a-v$A", "# comment", "Q=\"quoted\""].join("\n"),
      { HOME: "/home/u" },
    );
    expect(vars).toEqual({ A: "1.2", CACHE: "/home/u/.cache/x", BIN: "/home/u/.cache/x/a-v1.2", Q: "quoted" });
  });

  it("lets the environment override the cache location", () => {
    const vars = parseVersions("CACHE=${CACHE:-$HOME/.cache/x}", { HOME: "/h", CACHE: "/elsewhere" });
    expect(vars["CACHE"]).toBe("/elsewhere");
  });
});

describe("toolchain", () => {
  it("pins Kubernetes 1.36.3 and etcd 3.6.8 from scripts/versions.sh", () => {
    const tc = toolchain({ HOME: "/root" });
    expect(tc.kubeVersion).toBe("1.36.3");
    expect(tc.etcdVersion).toBe("3.6.8");
    expect(tc.kubeApiserver).toBe("/root/.cache/omnivisor/kubernetes-v1.36.3/kube-apiserver");
  });
});
